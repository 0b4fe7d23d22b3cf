"""Step of ``workflows/demo.smk``: the built-in demo dataset."""

from __future__ import annotations

from pathlib import Path


def demo_dataset(input, output, params, threads):
    """Generate the built-in demo dataset (all of it, atomically) at ``params.path``.

    Its outputs are raw BIDS data, not derivatives: no provenance file is written beside them.
    """
    import shutil

    from ...datasets import make_demo_dataset
    from ...datasets.demo import MARKER as DEMO_MARKER

    path = Path(params.path)
    # Snakemake runs this job only when outputs are missing or outdated, after deleting the
    # declared ones: a previous demo there (it has the marker file) is stale, so regenerate it
    # whole. A tree of empty folders is what Snakemake pre-creates for the outputs.
    if path.is_dir() and ((path / DEMO_MARKER).is_file() or not any(p.is_file() for p in path.rglob("*"))):
        shutil.rmtree(path)
    make_demo_dataset(path, **{k: v for k, v in params.cfg.items() if k != "path"})


demo_dataset.writes_provenance = False  # see run_rule
