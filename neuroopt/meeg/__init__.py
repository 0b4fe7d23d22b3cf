"""M/EEG: preprocessing, forward models and source estimation."""

from .forward import make_sphere_forward

__all__ = ["make_sphere_forward"]
