"""Bad inputs give errors naming the argument; scikit-learn estimator checks; solver contract."""

import warnings

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from neuroopt.sparse import SGCL, CLaR, MultiTaskLasso, MultiTaskSqrtLasso, lasso_path, warmup
from neuroopt.sparse.datafits import Quadratic
from neuroopt.sparse.penalties import L21
from neuroopt.sparse.solvers import solve_working_set

ESTIMATORS = [MultiTaskLasso, MultiTaskSqrtLasso, SGCL, CLaR]


@pytest.fixture(scope="module", autouse=True)
def _compiled():
    warmup()


def _data(n=20, p=12, T=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, p)), rng.standard_normal((n, T))


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_bad_inputs(cls):
    X, Y = _data()
    bad = Y.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        cls(alpha=0.1).fit(X, bad)
    Xbad = X.copy()
    Xbad[1, 1] = np.inf
    with pytest.raises(ValueError, match="X contains"):
        cls(alpha=0.1).fit(Xbad, Y)
    with pytest.raises(ValueError, match="X has 19 rows"):
        cls(alpha=0.1).fit(X[:19], Y)
    with pytest.raises(ValueError, match="alpha must be a finite number >= 0"):
        cls(alpha=-1.0).fit(X, Y)
    with pytest.raises(ValueError, match="all zeros"):
        cls(alpha=0.1).fit(np.zeros_like(X), Y)
    with pytest.raises(ValueError, match="n_orient=5 does not divide n_features=12"):
        cls(alpha=0.1, n_orient=5).fit(X, Y)
    with pytest.raises(ValueError, match="'reweighting'"):
        cls(alpha=0.1, reweighting="l1").fit(X, Y)
    with pytest.raises(ValueError, match="n_reweighting must be >= 1"):
        cls(alpha=0.1, n_reweighting=0).fit(X, Y)


def test_bad_concomitant_inputs():
    X, Y = _data()
    with pytest.raises(ValueError, match="sigma_min must be a finite number > 0"):
        SGCL(alpha=0.1, sigma_min=0.0).fit(X, Y)
    with pytest.raises(ValueError, match=r"sensor_groups must have one label per sensor, shape \(20,\)"):
        SGCL(alpha=0.1, sensor_groups=np.zeros(19)).fit(X, Y)
    with pytest.raises(ValueError, match=r"Y must have shape \(n_epochs, n_sensors, n_times\)"):
        CLaR(alpha=0.1).fit(X, np.zeros((2, 2, 20, 5)))
    with pytest.raises(ValueError, match="X has 20 rows"):
        CLaR(alpha=0.1).fit(X, np.ones((3, 21, 5)))
    with pytest.raises(ValueError, match="alphas must be a non-empty array"):
        lasso_path(X, Y, alphas=[0.1, -1.0])


def test_solver_names_missing_method():
    class NoDual(Quadratic):
        dual_value = None

    X, Y = _data()
    with pytest.raises(AttributeError, match=r"datafit method\(s\) \['dual_value'\]"):
        solve_working_set(X, Y, NoDual(), L21(0.1))


def test_max_iter_warns():
    from sklearn.exceptions import ConvergenceWarning

    X, Y = _data(n=30, p=200, T=4)
    est = MultiTaskLasso(tol=1e-14, max_iter=1)
    est.set_params(alpha=0.05 * est.alpha_max(X, Y))
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        est.fit(X, Y)
    assert not est.converged_


# loose tol / few iterations: sklearn's check data include degenerate one-sensor problems.
# CLaR is left out: its fit takes repetitions (n_epochs, n_sensors, n_times), and on sklearn's 2D
# check data (more sensors than times) its covariance is singular and the fits are very slow.
@parametrize_with_checks([MultiTaskLasso(alpha=0.1, tol=1e-4),
                          MultiTaskSqrtLasso(alpha=0.01, tol=1e-4, max_iter=5),
                          SGCL(alpha=0.01, tol=1e-4, max_iter=5)])
def test_sklearn_compatible(estimator, check):
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_string_arrays_rejected(cls):
    """Strings are not parsed as numbers (scikit-learn's check_array(dtype="numeric"))."""
    X, Y = _data()
    with pytest.raises(ValueError, match="X has dtype <U.*not numeric.*strings"):
        cls(alpha=0.1).fit(X.astype(str), Y)
    with pytest.raises(ValueError, match="Y has dtype <U.*not numeric"):
        cls(alpha=0.1).fit(X, Y.astype(str))
    est = cls(alpha=0.1).fit(X.astype(object), Y)  # object arrays of numbers are converted
    assert est.coef_.dtype == np.float64


@pytest.mark.parametrize("cls", [MultiTaskSqrtLasso, SGCL])
def test_noise_floor_stops_early(cls):
    """More features than sensors at a small alpha: sigma falls to sigma_min; stop, warn."""
    import time

    from sklearn.exceptions import ConvergenceWarning

    X, Y = _data(n=20, p=60, T=5)
    est = cls(sigma_min=1e-6, max_iter=100)
    est.set_params(alpha=0.1 * est.alpha_max(X, Y))
    t0 = time.perf_counter()
    with pytest.warns(ConvergenceWarning, match=r"floor sigma_min=1e-06.*Increase alpha"):
        est.fit(X, Y)
    assert time.perf_counter() - t0 < 10  # was ~1M epochs (100-180 s) before the floor check
    assert est.noise_at_floor_ and not est.converged_
    assert est.n_iter_ < 100
    # well-posed fits (more sensors than features) do not trip it
    X, Y = _data(n=40, p=12, T=5)
    est = cls(sigma_min=1e-6)
    est.set_params(alpha=0.1 * est.alpha_max(X, Y)).fit(X, Y)
    assert not est.noise_at_floor_ and est.converged_


def test_clar_identical_epochs_fail_clearly():
    X, Y = _data()
    with pytest.raises(ValueError, match="Y: the 4 epochs are identical.*single trials"):
        CLaR(alpha=0.1).fit(X, np.stack([Y] * 4))
