"""Simulated voxels with known HRFs (neuroopt's ``simulate_bold``; no real data).

Event-related design (``n_conditions`` x 15 trials at integer-second onsets), one double-gamma
HRF per voxel drawn from a small library (time to peak 4.5-6.5 s), AR(1) noise and slow drifts.
"""

import numpy as np
from benchopt import BaseDataset


class Dataset(BaseDataset):
    name = "Simulated"
    requirements = ["pip::pandas"]
    parameters = {"n_voxels": [300], "n_conditions": [4], "snr": [1.0]}

    def get_data(self):
        import pandas as pd

        from neuroopt.fmri.design import simulate_bold

        rng = np.random.default_rng(self.get_seed(use_repetition=True))
        t_r, n_scans, n_trials = 2.0, 300, 15
        onsets = np.sort(rng.choice(np.arange(0, int(t_r * n_scans) - 40), self.n_conditions
                                    * n_trials, replace=False)).astype(float)
        labels = rng.permutation(np.repeat([f"c{k}" for k in range(self.n_conditions)], n_trials))
        events = pd.DataFrame({"onset": onsets, "duration": 0.0, "trial_type": labels})
        hrf_params = np.column_stack([np.linspace(4.5, 6.5, 5), np.ones(5), np.full(5, 1 / 6)])
        betas = rng.normal(1.0, 0.5, (self.n_conditions, self.n_voxels))
        Y, _ = simulate_bold(events, t_r, n_scans, hrf_params, rng.integers(0, 5, self.n_voxels),
                          betas, ar1=0.3, drift_sd=0.5, snr=self.snr, random_state=rng)
        return dict(Y=np.asarray(Y, dtype=np.float64), events=events, t_r=t_r)
