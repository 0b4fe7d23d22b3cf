"""The real sample MEG problem (Left Auditory, 0-200 ms), fixed orientation, with sensor types.

Prepared as ``mne.inverse_sparse.mixed_norm`` does (see ``benchmarks/sample_mxne.py``); the
sensor type of each whitened row is that of its dominant channel (magnetometer or gradiometer).
"""

from benchmark_utils import mxne_problem
from benchopt import BaseDataset


class Dataset(BaseDataset):
    name = "MEG sample"
    requirements = ["pip::mne"]
    parameters = {"grid_mm": [5.0], "condition": ["Left Auditory"]}
    test_parameters = {"grid_mm": [10.0]}

    def get_data(self):
        problem = mxne_problem(self.condition, pos=self.grid_mm, orientation="fixed")
        return dict(X=problem["X"], Y=problem["Y"], sensor_types=problem["ch_types"])
