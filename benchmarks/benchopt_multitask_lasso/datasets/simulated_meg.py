"""Random sources through the real sample gain (seeded): a problem whose support is known.

``n_sources`` sources drawn uniformly among the grid's, each with a smooth 20 Hz-ish time course
and a random orientation; white noise at the given SNR (whitened data: unit noise is the
covariance's prediction, so ``snr`` is the RMS of the signal over that of the noise).
"""

import numpy as np
from benchmark_utils import mxne_problem
from benchopt import BaseDataset


class Dataset(BaseDataset):
    name = "MEG sample simulated"
    requirements = ["pip::mne"]
    parameters = {"orientation": ["fixed", "free"], "grid_mm": [5.0], "n_sources": [4],
                  "snr": [3.0]}
    test_parameters = {"orientation": ["fixed"], "grid_mm": [10.0]}

    def get_data(self):
        problem = mxne_problem(pos=self.grid_mm, orientation=self.orientation)
        X, n_orient = problem["X"], problem["n_orient"]
        n, T = problem["Y"].shape
        rng = np.random.default_rng(self.get_seed(use_repetition=True))
        support = rng.choice(X.shape[1] // n_orient, self.n_sources, replace=False)
        times = np.arange(T) / T
        B = np.zeros((X.shape[1], T))
        for g in support:
            course = np.sin(2 * np.pi * (2 + 2 * rng.random()) * times + rng.random() * np.pi)
            course *= np.exp(-((times - rng.uniform(0.3, 0.7)) ** 2) / 0.02)
            orient = rng.standard_normal(n_orient)
            B[g * n_orient:(g + 1) * n_orient] = np.outer(orient / np.linalg.norm(orient), course)
        signal = X @ B
        noise = rng.standard_normal((n, T))
        Y = self.snr * signal / np.sqrt(np.mean(signal ** 2)) + noise
        return dict(X=X, Y=Y, n_orient=n_orient)
