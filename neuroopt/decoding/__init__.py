"""Decoding: time-resolved M/EEG decoding and fMRI trial-pattern decoding, folds grouped by run.

Per subject: :func:`decode_epochs` (MNE epochs) or :func:`decode_time` (arrays) for M/EEG,
:func:`decode_trials` / :func:`decode_roi` / :func:`searchlight_decoding` for fMRI trial betas.
Group: :func:`group_decoding`.
"""

from .cv import grouped_folds
from .group import GroupDecodingResult, group_decoding
from .lda import fit_shrinkage_lda
from .temporal import TemporalDecodingResult, decode_epochs, decode_time
from .trials import TrialDecodingResult, decode_roi, decode_trials, searchlight_decoding

__all__ = [
    "GroupDecodingResult",
    "TemporalDecodingResult",
    "TrialDecodingResult",
    "decode_epochs",
    "decode_roi",
    "decode_time",
    "decode_trials",
    "fit_shrinkage_lda",
    "group_decoding",
    "grouped_folds",
    "searchlight_decoding",
]
