"""Real fast event-related fMRI: the NeuroSpin localizer run shipped with PyHRF.

1272 voxels (the two parcels of ``subj0_parcellation.nii.gz``), 125 scans, TR 2.4 s (the NIfTI
header's 1.0 is wrong, see the dataset README), 10 conditions, 80 events; from
``../shared/data/fmri_pyhrf_localizer`` (or ``$NEUROOPT_SHARED_DATA``).
"""

import numpy as np
from benchmark_utils import shared_data_dir
from benchopt import BaseDataset

T_R = 2.4


class Dataset(BaseDataset):
    name = "fMRI localizer"
    requirements = ["pip::nibabel", "pip::pandas"]

    def get_data(self):
        import nibabel as nib
        import pandas as pd

        root = shared_data_dir("fmri_pyhrf_localizer")
        bold = np.asanyarray(nib.load(root / "subj0_bold_session0.nii.gz").dataobj)
        mask = np.asanyarray(nib.load(root / "subj0_parcellation.nii.gz").dataobj) > 0
        Y = np.ascontiguousarray(bold[mask].T, dtype=np.float64)
        events = pd.read_csv(root / "events.tsv", sep="\t")
        return dict(Y=Y, events=events, t_r=T_R)
