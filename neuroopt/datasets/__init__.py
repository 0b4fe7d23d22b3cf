"""Built-in datasets: the simulated demo BIDS dataset with ground truth, and the sample MEG gain."""

from .demo import (
    DEMO_EEG_CONDITIONS,
    DEMO_FMRI_CONDITIONS,
    DEMO_TASK,
    load_demo_truth,
    make_demo_dataset,
)
from .sample import sample_meg_gain

__all__ = [
    "DEMO_EEG_CONDITIONS",
    "DEMO_FMRI_CONDITIONS",
    "DEMO_TASK",
    "load_demo_truth",
    "make_demo_dataset",
    "sample_meg_gain",
]
