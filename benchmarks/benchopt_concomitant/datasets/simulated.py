"""A small Gaussian problem with two sensor groups of different noise levels (no real data)."""

import numpy as np
from benchopt import BaseDataset


class Dataset(BaseDataset):
    name = "Simulated"
    requirements = ["pip::numpy"]
    parameters = {"n_samples": [60], "n_features": [300], "n_times": [20], "n_active": [5]}

    def get_data(self):
        rng = np.random.default_rng(self.get_seed(use_repetition=True))
        X = rng.standard_normal((self.n_samples, self.n_features))
        B = np.zeros((self.n_features, self.n_times))
        B[rng.choice(self.n_features, self.n_active, replace=False)] = rng.standard_normal(
            (self.n_active, self.n_times))
        types = np.where(np.arange(self.n_samples) < self.n_samples // 3, "mag", "grad")
        noise = np.where(types == "mag", 2.0, 0.5)[:, None]
        Y = X @ B + noise * rng.standard_normal((self.n_samples, self.n_times))
        return dict(X=X, Y=Y, sensor_types=types)
