"""BLAS thread pinning.

On the 2-core machines we target, OpenBLAS with 2 threads was measured 3-10x slower than 1 thread
on small matrix work, so library code runs BLAS on one thread per process and parallelises across
voxels, subjects or jobs instead.
"""

from __future__ import annotations

import os
import sys

from threadpoolctl import ThreadpoolController, threadpool_limits

_ENV_VARS = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS", "BLIS_NUM_THREADS")


def pin_blas_threads(n_threads=1):
    """Limit BLAS/OpenMP to ``n_threads`` for this process (env vars for children, live pools now)."""
    for var in _ENV_VARS:
        os.environ[var] = str(n_threads)
    threadpool_limits(limits=n_threads)


_controller = {"n_modules": -1, "controller": None}


def _threadpool_controller():
    # Listing the loaded libraries reads /proc/self/maps (5-10 ms, as long as a whole sparse fit
    # at large alpha), so it is redone only after new modules were imported (a new BLAS can
    # only come with one).
    if _controller["n_modules"] != len(sys.modules):
        _controller["controller"] = ThreadpoolController()
        _controller["n_modules"] = len(sys.modules)
    return _controller["controller"]


def blas_threads(n_threads=1):
    """Context manager limiting BLAS to ``n_threads`` inside the block."""
    return _threadpool_controller().limit(limits=n_threads, user_api="blas")
