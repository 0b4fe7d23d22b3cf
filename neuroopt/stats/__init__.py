"""Group statistics: cluster permutation tests over time, thresholded z maps and cluster tables,
second-level (group) maps and group decoding tests."""

from .cluster import ClusterTestResult, cluster_test_1samp, smallest_sign_flip_p
from .second_level import GroupTrialDecodingResult, group_trial_decoding, median_map, one_sample_group_map
from .thresholding import Threshold, cluster_table, threshold_z_map

__all__ = [
    "ClusterTestResult",
    "GroupTrialDecodingResult",
    "Threshold",
    "cluster_table",
    "cluster_test_1samp",
    "group_trial_decoding",
    "median_map",
    "one_sample_group_map",
    "smallest_sign_flip_p",
    "threshold_z_map",
]
