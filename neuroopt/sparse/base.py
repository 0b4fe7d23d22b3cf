"""The datafit and penalty contract of the working-set solver, as abstract base classes.

As in skglm (``skglm/datafits/base.py``, ``skglm/penalties/base.py``), each model piece is a
small class, and these bases list the methods the solver calls: a subclass that misses one cannot
be instantiated (``TypeError`` naming the method), and the solver checks any other object once
(:func:`~neuroopt.sparse.solvers.check_solver_requirements`, whose lists are
``DATAFIT_METHODS`` / ``PENALTY_METHODS`` and equal the abstract methods below).

``B`` has shape (n_features, n_times) and the residual ``R = Y - X B`` (n_sensors, n_times).
"""

from __future__ import annotations

from abc import ABC, abstractmethod


class BaseDatafit(ABC):
    """A datafit ``F(R)`` of the residual, possibly minimised over a noise parameter.

    With the noise fixed the datafit is ``tr(R^T M R) / 2`` for a sensor metric ``M``; the
    solver alternates block coordinate descent on ``B`` with ``update_noise``. The dual
    methods build a feasible dual point from a residual for the duality gap.

    Attributes
    ----------
    has_noise : bool
        Whether the datafit estimates a noise parameter (``update_noise`` may change ``M``).
    """

    has_noise = False

    @abstractmethod
    def initialize(self, Y):
        """Store the data ``Y`` (n_sensors, n_times) and set the noise at ``B = 0``; return self."""

    @abstractmethod
    def value(self, R):
        """Datafit value at the residual ``R`` (minimised over the noise, if any)."""

    @abstractmethod
    def update_noise(self, R):
        """Closed-form noise update from ``R``; return True when the metric changed."""

    @abstractmethod
    def apply_metric(self, A):
        """``M A`` for the current noise (``A`` of shape (n_sensors, k))."""

    @abstractmethod
    def dual_direction(self, R):
        """Unscaled dual point built from ``R``; ``X^T`` of it is minus the gradient in ``B``."""

    @abstractmethod
    def dual_value(self, R, scale):
        """Dual objective at ``dual_direction(R) / scale``."""

    @abstractmethod
    def noise_summary(self):
        """Fitted noise parameters as a dict (name -> value; set as ``name_`` on estimators)."""

    def noise_at_floor(self):
        """True when the noise estimate sits at its lower bound (the fit interpolates the data)."""
        return False


class BaseBlockMetricDatafit(BaseDatafit):
    """A datafit whose metric ``M`` is one weight per block of sensors.

    The solver then keeps one Gram matrix per block and re-weights it after a noise update,
    and evaluates ``X^T Theta`` from cached ``X_k^T Y_k`` and Gram columns. ``initialize`` must
    set ``sensor_blocks``: a list of row-index arrays, or ``[None]`` for all rows.
    """

    sensor_blocks = (None,)

    @abstractmethod
    def block_weights(self):
        """Current metric as one weight per entry of ``sensor_blocks``."""

    @abstractmethod
    def dual_block_weights(self, R):
        """Weights ``w`` with ``dual_direction(R) = w[block] * R`` on each block."""


class BasePenalty(ABC):
    """A penalty separable over groups of ``n_orient`` consecutive rows of ``B``.

    Attributes
    ----------
    n_orient : int
        Rows per group.
    """

    n_orient = 1

    @abstractmethod
    def thresholds(self, n_groups):
        """Per-group thresholds of the proximal operator (``np.inf``: group left out)."""

    @abstractmethod
    def subset(self, groups):
        """The same penalty restricted to the groups ``groups`` (indices)."""

    @abstractmethod
    def value(self, B):
        """Penalty value at ``B``."""

    @abstractmethod
    def dual_scaling(self, grad_norms):
        """Smallest factor ``s >= 1`` making ``X^T Theta / s`` dual feasible.

        ``grad_norms[g]`` is the norm of group ``g`` of ``X^T Theta``.
        """

    @abstractmethod
    def subdiff_distance(self, B, grad):
        """Distance of ``-grad`` to the subdifferential at ``B``, per group (KKT violation)."""
