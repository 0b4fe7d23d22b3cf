"""Python's cyclic garbage collector in the Snakemake process that plans and schedules the jobs.

Planning keeps almost everything it allocates: Snakemake's jobs, their files, wildcards and
reasons, about 40 objects per file reference (1.2 GB for 1000 subjects x 2 sessions x 3 runs).
With Python's default thresholds the collector rescans all of them in each full collection, about
20 times while the DAG of 1000 subjects is built, and once more when the interpreter exits: a
quarter of the CPU time of ``snakemake -n`` (README "Large datasets"). Nothing of it is garbage.
"""

from __future__ import annotations

import atexit
import gc

#: (young, middle, old) thresholds: a young collection every 50 000 allocations (Python's default
#: is 700), a full one only after 100 middle ones (default 10); see :func:`gc.set_threshold`.
PLANNING_THRESHOLDS = (50_000, 20, 100)


def tune_garbage_collector(thresholds=PLANNING_THRESHOLDS):
    """Make full collections rare, and skip the collection of the kept objects at exit.

    Called by the Snakefile, so it applies to the Snakemake process only (the steps run in their
    own processes). Young collections still free short-lived reference cycles; the peak memory
    of ``snakemake -n`` on 1000 subjects is unchanged (1.23 GB). At exit, :func:`gc.freeze` moves
    every object to the permanent generation, so the interpreter's last collections do not walk
    the DAG again. The exit handlers registered before it (Snakemake's, :mod:`logging`'s, which
    flushes and closes the log files) run after it as before; what changes is that an object
    kept alive only by a reference cycle until exit is left to the operating system instead of
    being finalised by the collector.

    Parameters
    ----------
    thresholds : tuple of int
        The collector's (young, middle, old) thresholds, as :func:`gc.set_threshold` takes them.
    """
    gc.set_threshold(*thresholds)
    atexit.unregister(gc.freeze)  # once, however many times the Snakefile is parsed in one process
    atexit.register(gc.freeze)
