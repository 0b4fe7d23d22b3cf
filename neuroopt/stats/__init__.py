"""Group statistics: cluster-based permutation tests over time."""

from .cluster import ClusterTestResult, cluster_test_1samp

__all__ = ["ClusterTestResult", "cluster_test_1samp"]
