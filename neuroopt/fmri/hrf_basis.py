"""HRF bases of the rank-1 GLM: canonical + derivatives ("3hrf"), finite impulse response ("fir").

A basis is a set of continuous functions of the time since stimulus onset. The design builder
(:mod:`neuroopt.fmri.design`) convolves them with the stimulus on a fine grid, and the estimators
report the HRF ``h = B w`` sampled at :attr:`HRFBasis.times`.

We evaluate the SPM double-gamma ourselves instead of calling
``nilearn.glm.first_level.spm_hrf``: nilearn samples its kernel on
``np.linspace(0, time_length, round(time_length / dt))`` with ``loc=dt``, a grid whose step is
slightly longer than the convolution step ``dt`` and shifted by one step, which stretches and
delays the HRF (by 1/15 of its length at TR 2 s without oversampling). Here every function is
evaluated at exact times over the full ``hrf_length`` (32 s by default, so the undershoot is not
truncated as it is by 20 s kernels).
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.stats import gamma

from ..utils import check_option, check_positive

# SPM canonical parameters (spm_hrf.m): peak and undershoot delays (s), dispersions, ratio
_PEAK_DELAY = 6.0
_UNDERSHOOT_DELAY = 16.0
_DISPERSION = 1.0
_RATIO = 1.0 / 6.0
# finite-difference steps used by SPM for the temporal and dispersion derivatives
_TIME_STEP = 0.1
_DISPERSION_STEP = 0.01

BASIS_NAMES = ("3hrf", "fir")


def double_gamma_hrf(times, peak_delay=_PEAK_DELAY, undershoot_delay=_UNDERSHOOT_DELAY,
                     dispersion=_DISPERSION, undershoot_dispersion=_DISPERSION, ratio=_RATIO):
    """Evaluate a double-gamma HRF (SPM canonical by default) at ``times`` (s since onset).

    Parameters
    ----------
    times : array-like
        Times in seconds; the HRF is 0 for negative times.
    peak_delay, undershoot_delay : float
        Shape parameters (in s) of the response and undershoot gamma densities.
    dispersion, undershoot_dispersion : float
        Scales (in s) of the two gamma densities.
    ratio : float
        Amplitude of the undershoot relative to the response.

    Returns
    -------
    hrf : ndarray, same shape as ``times``
        Unnormalised HRF values.
    """
    times = np.asarray(times, dtype=float)
    peak = gamma.pdf(times, peak_delay / dispersion, scale=dispersion)
    undershoot = gamma.pdf(times, undershoot_delay / undershoot_dispersion,
                           scale=undershoot_dispersion)
    return peak - ratio * undershoot


def _spm_three_functions(times):
    """Canonical, temporal derivative and dispersion derivative (SPM definitions)."""
    canonical = double_gamma_hrf(times)
    # SPM: difference with the HRF shifted by 0.1 s, and with the dispersion increased by 0.01
    temporal = (canonical - double_gamma_hrf(times - _TIME_STEP)) / _TIME_STEP
    dispersion = (canonical - double_gamma_hrf(
        times, peak_delay=_PEAK_DELAY, dispersion=_DISPERSION + _DISPERSION_STEP
    )) / _DISPERSION_STEP
    return np.stack([canonical, temporal, dispersion], axis=-1)


@functools.lru_cache(maxsize=8)
def _three_function_table(hrf_length, step):
    """SPM functions on a dense grid (cached: scipy's gamma pdf dominates small fits)."""
    times = np.arange(0.0, hrf_length + 1e-9, step)
    table = _spm_three_functions(times)
    table.setflags(write=False)
    return times, table


class HRFBasis:
    """A small set of HRF basis functions, orthonormal on the reporting grid.

    Parameters
    ----------
    kind : {"3hrf", "fir"}
        ``"3hrf"``: SPM canonical HRF, temporal and dispersion derivatives (orthonormalised in
        this order, so the first function is the canonical HRF). ``"fir"``: one box per lag of
        width ``fir_step`` centred on ``0, fir_step, 2 fir_step, ...`` up to ``hrf_length``.
    t_r : float
        Repetition time (s); the default FIR lag step and the reporting grid step derive from it.
    hrf_length : float
        Support of the HRF in seconds (32 s by default).
    fir_step : float | None
        FIR lag step in s (defaults to ``t_r``).
    hrf_dt : float
        Step (s) of the reporting grid :attr:`times` for ``"3hrf"`` (0.1 s).

    Attributes
    ----------
    times : ndarray, (n_times,)
        Reporting grid; the HRF of coefficients ``w`` is ``matrix @ w`` there.
    matrix : ndarray, (n_times, n_basis)
        Basis sampled on :attr:`times`, with orthonormal columns, so ``||h|| = ||w||``.
    """

    def __init__(self, kind="3hrf", t_r=2.0, hrf_length=32.0, fir_step=None, hrf_dt=0.1):
        self.kind = check_option("basis", kind, BASIS_NAMES)
        self.t_r = check_positive(t_r, "t_r")
        self.hrf_length = check_positive(hrf_length, "hrf_length")
        self.fir_step = check_positive(t_r if fir_step is None else fir_step, "fir_step")
        self.hrf_dt = check_positive(hrf_dt, "hrf_dt")
        if self.kind == "3hrf":
            self.times = np.arange(0.0, self.hrf_length + 1e-9, self.hrf_dt)
            raw = _spm_three_functions(self.times)
            # orthonormalise on the reporting grid (QR keeps the canonical first) so the unit-norm
            # HRF constraint is a unit-norm constraint on the coefficients
            q, r = np.linalg.qr(raw)
            signs = np.sign(np.diag(r))
            signs[signs == 0] = 1.0
            self._mixing = np.linalg.inv(r) * signs  # raw functions @ mixing = orthonormal ones
            self.matrix = q * signs
            # dense table for fast evaluation (linear interpolation error < 1e-6 of the peak)
            self._table_times, raw_table = _three_function_table(self.hrf_length, 0.005)
            self._table = raw_table @ self._mixing
        else:
            n_lags = int(np.floor(self.hrf_length / self.fir_step + 1e-9))
            if n_lags < 2:
                raise ValueError(
                    f"hrf_length={hrf_length} s gives {n_lags} FIR lag(s) of {self.fir_step} s; "
                    "use hrf_length >= 2 * fir_step."
                )
            self.times = np.arange(n_lags) * self.fir_step
            self.matrix = np.eye(n_lags)
            self._mixing = None

    @property
    def n_basis(self):
        """Number of basis functions."""
        return self.matrix.shape[1]

    def evaluate(self, times):
        """Evaluate the (orthonormalised) basis functions at arbitrary ``times`` (s since onset).

        Returns
        -------
        values : ndarray, (n_times, n_basis)
            (``times.shape + (n_basis,)`` for a multi-dimensional ``times``). Zero outside
            ``[0, hrf_length]`` (FIR: outside the lag boxes).
        """
        times = np.asarray(times, dtype=float)
        if self.kind == "3hrf":
            flat = times.ravel()
            values = np.column_stack([
                np.interp(flat, self._table_times, column, left=0.0, right=0.0)
                for column in self._table.T
            ])
            return values.reshape(times.shape + (self.n_basis,))
        # FIR: lag j covers [(j - 1/2) step, (j + 1/2) step), so an onset on the scan grid
        # lands exactly on lag j at scan j
        index = np.floor(times / self.fir_step + 0.5).astype(int)
        flat = index.ravel()
        values = np.zeros((flat.size, self.n_basis))
        valid = (flat >= 0) & (flat < self.n_basis)
        values[np.flatnonzero(valid), flat[valid]] = 1.0
        return values.reshape(times.shape + (self.n_basis,))

    def canonical(self):
        """Canonical SPM HRF on :attr:`times`, unit norm (used for initialisation and baselines)."""
        hrf = double_gamma_hrf(self.times)
        return hrf / np.linalg.norm(hrf)

    def canonical_coef(self):
        """Unit-norm basis coefficients of the HRF closest (least squares) to the canonical one."""
        coef = self.matrix.T @ self.canonical()
        return coef / np.linalg.norm(coef)

    def shrinkage_penalty(self):
        """PSD matrix whose quadratic form measures the departure from the canonical shape.

        ``"3hrf"``: the derivative directions (the first orthonormal function is the canonical
        HRF). ``"fir"``: the projector orthogonal to the canonical coefficients.
        """
        if self.kind == "3hrf":
            return np.diag([0.0] + [1.0] * (self.n_basis - 1))
        coef = self.canonical_coef()
        return np.eye(self.n_basis) - np.outer(coef, coef)

    def __repr__(self):
        return (f"<HRFBasis {self.kind!r}: {self.n_basis} functions over {self.hrf_length:g} s, "
                f"{self.times.size} reporting times>")
