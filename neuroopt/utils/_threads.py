"""BLAS thread pinning.

On the 2-core machines we target, OpenBLAS with 2 threads was measured 3-10x slower than 1 thread
on small matrix work, so library code runs BLAS on one thread per process and parallelises across
voxels, subjects or jobs instead.
"""

from __future__ import annotations

import contextlib
import os

from threadpoolctl import threadpool_limits

_ENV_VARS = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS", "BLIS_NUM_THREADS")


def pin_blas_threads(n_threads=1):
    """Limit BLAS/OpenMP to ``n_threads`` for this process (env vars for children, live pools now)."""
    for var in _ENV_VARS:
        os.environ[var] = str(n_threads)
    threadpool_limits(limits=n_threads)


@contextlib.contextmanager
def blas_threads(n_threads=1):
    """Context manager limiting BLAS to ``n_threads`` inside the block."""
    with threadpool_limits(limits=n_threads, user_api="blas"):
        yield
