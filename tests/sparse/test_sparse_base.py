"""The datafit / penalty contract: every concrete piece implements the base classes' methods.

The abstract methods of :mod:`neuroopt.sparse.base` are the ones the working-set solver checks
(``DATAFIT_METHODS`` / ``PENALTY_METHODS``); each concrete datafit's ``dual_direction`` is the
gradient of its value (finite differences) and each datafit + penalty pair satisfies weak
duality at a random point, so a piece that implements a method with the wrong maths fails too.
"""

import inspect

import numpy as np
import pytest

from neuroopt.sparse import base, datafits, penalties
from neuroopt.sparse.penalties import L21, group_norms
from neuroopt.sparse.solvers import check_solver_requirements
from neuroopt.sparse.solvers.working_set import DATAFIT_METHODS, PENALTY_METHODS


def _concrete(module):
    return [obj for _, obj in inspect.getmembers(module, inspect.isclass)
            if obj.__module__ == module.__name__ and not inspect.isabstract(obj)
            and not obj.__name__.startswith("_")]


DATAFIT_CLASSES = _concrete(datafits)
PENALTY_CLASSES = _concrete(penalties)


def test_base_classes_list_what_the_solver_checks():
    assert set(base.BaseDatafit.__abstractmethods__) == set(DATAFIT_METHODS)
    assert set(base.BasePenalty.__abstractmethods__) == set(PENALTY_METHODS)
    assert set(base.BaseBlockMetricDatafit.__abstractmethods__) == (
        set(DATAFIT_METHODS) | {"block_weights", "dual_block_weights"})


@pytest.mark.parametrize("cls", DATAFIT_CLASSES + PENALTY_CLASSES, ids=lambda c: c.__name__)
def test_every_concrete_piece_inherits_its_base(cls):
    root = base.BaseDatafit if cls in DATAFIT_CLASSES else base.BasePenalty
    assert issubclass(cls, root), f"{cls.__name__} does not inherit {root.__name__}"
    assert not inspect.isabstract(cls)


def test_a_missing_method_is_named():
    class Incomplete(base.BaseDatafit):
        def initialize(self, Y):
            return self

    with pytest.raises(TypeError, match="dual_value"):
        Incomplete()

    class Duck:  # not a subclass: the solver's own check names what is missing
        def value(self, R):
            return 0.0

    with pytest.raises(AttributeError, match="apply_metric"):
        check_solver_requirements(Duck(), L21(1.0))


def _instances(rng, n, T):
    groups = np.arange(n) % 3
    epochs = rng.standard_normal((4, n, T))
    centered = (epochs - epochs.mean(axis=0)).transpose(1, 0, 2).reshape(n, -1)
    return {
        datafits.Quadratic: datafits.Quadratic(),
        datafits.SensorGroupConcomitant: datafits.SensorGroupConcomitant(groups, 1e-3),
        datafits.CovarianceConcomitant: datafits.CovarianceConcomitant(1e-3, centered @ centered.T,
                                                                      4),
    }


@pytest.mark.parametrize("cls", DATAFIT_CLASSES, ids=lambda c: c.__name__)
def test_datafit_gradient_and_weak_duality(cls):
    rng = np.random.default_rng(0)
    n, p, T, n_orient = 12, 30, 5, 3
    instances = _instances(rng, n, T)
    assert set(instances) == set(DATAFIT_CLASSES), "add the new datafit to _instances"
    datafit = instances[cls]
    X, Y = rng.standard_normal((n, p)), rng.standard_normal((n, T))
    B = np.zeros((p, T))
    B[:3] = 0.3 * rng.standard_normal((3, T))
    R = Y - X @ B
    assert datafit.initialize(Y) is datafit
    datafit.update_noise(R)
    # dual_direction(R) is the gradient of the value in R (the solver's X^T Theta = -grad_B)
    E = rng.standard_normal(R.shape)
    h = 1e-6
    fd = (datafit.value(R + h * E) - datafit.value(R - h * E)) / (2 * h)
    assert fd == pytest.approx(float(np.vdot(datafit.dual_direction(R), E)), rel=1e-5)
    # the metric at the fitted noise gives the same direction
    np.testing.assert_allclose(datafit.apply_metric(R), datafit.dual_direction(R), rtol=1e-10)
    if isinstance(datafit, base.BaseBlockMetricDatafit):
        w = datafit.dual_block_weights(R)
        for k, rows in enumerate(datafit.sensor_blocks):
            rows = slice(None) if rows is None else rows
            np.testing.assert_allclose(datafit.dual_direction(R)[rows], w[k] * R[rows])
    # weak duality: the rescaled dual point's objective is below the primal objective
    for cls_pen in PENALTY_CLASSES:
        penalty = cls_pen(0.05, n_orient)
        scale = penalty.dual_scaling(group_norms(X.T @ datafit.dual_direction(R), n_orient))
        assert scale >= 1
        primal = datafit.value(R) + penalty.value(B)
        assert datafit.dual_value(R, scale) <= primal + 1e-12
        assert isinstance(datafit.noise_summary(), dict)


@pytest.mark.parametrize("cls", PENALTY_CLASSES, ids=lambda c: c.__name__)
def test_penalty_kkt_at_a_known_point(cls):
    """A non-zero group with ``grad = -alpha B_g / ||B_g||`` and a zero group inside the ball."""
    penalty = cls(0.5, 2)
    B = np.array([[3.0, 0.0], [4.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    grad = np.array([[-0.3, 0.0], [-0.4, 0.0], [0.1, 0.0], [0.2, 0.0]])
    np.testing.assert_allclose(penalty.subdiff_distance(B, grad), [0.0, 0.0], atol=1e-12)
    assert penalty.value(B) == pytest.approx(0.5 * 5.0)
    assert penalty.subset(np.array([0])).value(B[:2]) == pytest.approx(2.5)
