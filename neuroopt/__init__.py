"""neuroopt: M/EEG and fMRI analysis over BIDS, from preprocessing to sparse sources, HRFs and RSA.

The sub-packages are reachable from the top (``import neuroopt; neuroopt.meeg``) and imported on
first use, as MNE and nilearn do, so ``import neuroopt`` itself stays fast.
"""

import importlib

__version__ = "0.1.0"

_SUBPACKAGES = ("datasets", "decoding", "fmri", "io", "meeg", "pipeline", "report", "rsa", "sparse", "stats", "utils")


def __getattr__(name):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}; its sub-packages are {', '.join(_SUBPACKAGES)}.")


def __dir__():
    return sorted([*globals(), *_SUBPACKAGES])


__all__ = ["__version__", *_SUBPACKAGES]
