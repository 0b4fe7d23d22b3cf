"""BIDS input discovery and BIDS-derivative output paths."""

from .bids import (
    BIDSError,
    BIDSLayout,
    Recording,
    discover_bids,
    find_sidecar,
    read_events,
    read_repetition_time,
)
from .derivatives import derivative_path, write_provenance

__all__ = [
    "BIDSError",
    "BIDSLayout",
    "Recording",
    "derivative_path",
    "discover_bids",
    "find_sidecar",
    "read_events",
    "read_repetition_time",
    "write_provenance",
]
