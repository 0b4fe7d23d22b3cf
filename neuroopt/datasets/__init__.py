"""Built-in datasets: the simulated demo BIDS dataset with ground truth."""

from .demo import (
    DEMO_EEG_CONDITIONS,
    DEMO_FMRI_CONDITIONS,
    DEMO_TASK,
    load_demo_truth,
    make_demo_dataset,
)

__all__ = [
    "DEMO_EEG_CONDITIONS",
    "DEMO_FMRI_CONDITIONS",
    "DEMO_TASK",
    "load_demo_truth",
    "make_demo_dataset",
]
