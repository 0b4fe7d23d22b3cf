"""Atomic file output: write to a temporary name beside the target, then rename.

A killed process therefore never leaves a file that looks complete under its final name.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path, suffix=None):
    """Yield a temporary path in the target's folder; rename it to ``path`` on success.

    Parameters
    ----------
    path : path-like
        Final file name. Its parent folder is created if needed.
    suffix : str | None
        Suffix of the temporary file. Defaults to the full suffix of ``path`` (e.g. ``.nii.gz``,
        ``-ave.fif``) because MNE and nibabel choose the format from the file name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix is None:
        # keep everything after the BIDS entities so writers recognise the format:
        # sub-01_ave.fif -> "_ave.fif", img.nii.gz -> ".nii.gz"
        name = path.name
        cut = max(name.rfind("_"), name.find("."))
        suffix = name[cut:] if cut > 0 else path.suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    os.unlink(tmp)  # writers such as MNE refuse to overwrite without overwrite=True
    try:
        yield Path(tmp)
        if not Path(tmp).exists():
            raise RuntimeError(f"The writer did not create {tmp} for {path}.")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path, data):
    """Write ``data`` (bytes) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fid:
            fid.write(data)
            fid.flush()
            os.fsync(fid.fileno())
    return Path(path)


def atomic_write_text(path, text):
    """Write ``text`` (str, UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_save_npz(path, **arrays):
    """Write ``arrays`` to an ``.npz`` file atomically (the save format of neuroopt's result objects)."""
    import numpy as np

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fid:
            np.savez(fid, **arrays)
    return path
