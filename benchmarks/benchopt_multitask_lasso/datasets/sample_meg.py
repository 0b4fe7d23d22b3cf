"""The real MxNE problem of the MNE sample data (Left Auditory, MEG, 0-200 ms, volume grid).

Gain whitened and depth-weighted exactly as ``mne.inverse_sparse.mixed_norm`` prepares it
(loose = 1 for ``free``; ``fixed`` keeps each source's orientation of largest gain), see
``benchmarks/sample_mxne.py``. Read from ``../shared/data/meg_sample`` (or
``$NEUROOPT_SHARED_DATA/meg_sample``); the forward model is built once and cached in
``benchmarks/results/``.
"""

from benchmark_utils import mxne_problem
from benchopt import BaseDataset


class Dataset(BaseDataset):
    name = "MEG sample"
    requirements = ["pip::mne"]
    parameters = {"orientation": ["fixed", "free"], "grid_mm": [5.0],
                  "condition": ["Left Auditory"]}
    test_parameters = {"orientation": ["fixed"], "grid_mm": [10.0]}

    def get_data(self):
        problem = mxne_problem(self.condition, pos=self.grid_mm, orientation=self.orientation)
        return dict(X=problem["X"], Y=problem["Y"], n_orient=problem["n_orient"])
