"""A small Gaussian multitask problem (no real data needed): the quick check of the benchmark."""

import numpy as np
from benchopt import BaseDataset


class Dataset(BaseDataset):
    name = "Simulated"
    requirements = ["pip::numpy"]
    parameters = {"n_samples": [60], "n_features": [300], "n_times": [20], "n_orient": [1, 3],
                  "n_active": [5]}
    test_parameters = {"n_orient": [1]}

    def get_data(self):
        rng = np.random.default_rng(self.get_seed(use_repetition=True))
        X = rng.standard_normal((self.n_samples, self.n_features))
        n_groups = self.n_features // self.n_orient
        support = rng.choice(n_groups, self.n_active, replace=False)
        B = np.zeros((self.n_features, self.n_times))
        for g in support:
            B[g * self.n_orient:(g + 1) * self.n_orient] = rng.standard_normal(
                (self.n_orient, self.n_times))
        Y = X @ B + 0.5 * rng.standard_normal((self.n_samples, self.n_times))
        return dict(X=X, Y=Y, n_orient=self.n_orient)
