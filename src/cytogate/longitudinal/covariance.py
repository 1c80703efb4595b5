"""Within-subject covariance structures of the MMRM, parametrised as SAS does.

Each structure maps two parameter vectors to a ``(T, T)`` covariance matrix
over the ``T`` ordered time levels:

- ``phi``, the *natural* parameters that SAS PROC MIXED prints (``UN(2,1)``,
  ``AR(1)``, ``Residual`` ...).  Derivatives for the REML Hessian, the
  Satterthwaite gradient and the Kenward-Roger adjustment are taken with
  respect to ``phi``, so the results match SAS's parametrisation;
- ``theta``, an *unconstrained* vector for the optimiser, whose every value
  gives a positive-definite matrix (log variances, Fisher-z / logistic
  correlations, a log-Cholesky factor for ``un``, partial autocorrelations for
  Toeplitz structures).

First derivatives of ``sigma(phi)`` are computed by the complex-step method
(exact to rounding because every ``sigma`` is real-analytic); second
derivatives are zero for the linear structures (``un``, ``cs``, ``toep``) and
central differences of complex-step first derivatives otherwise.

Correlation structures (``ar1``, ``toep`` and their heterogeneous versions)
use the *position* of a time level in the ordered levels as its time, as SAS
does with a ``REPEATED`` class effect: neighbours are one lag apart whatever
their actual spacing.  The levels are in natural order (categorical order if
the column is categorical) whatever the reference level; SAS instead moves a
``ref=`` level to the end of its CLASS order, which changes AR/Toeplitz lags.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ModelError

__all__ = ["CovarianceStructure", "STRUCTURES", "get_structure", "FALLBACK", "start_covariance"]

# What to try next when a fit does not converge (each step has fewer parameters).
FALLBACK = {"un": "toeph", "toeph": "ar1h", "ar1h": "cs", "toep": "ar1", "csh": "cs", "ar1": "cs"}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _lags(t: int) -> np.ndarray:
    idx = np.arange(t)
    return np.abs(idx[:, None] - idx[None, :])


def _pacf_to_acf(pacf: np.ndarray) -> np.ndarray:
    """Autocorrelations ``rho_1..rho_K`` from partial autocorrelations in (-1, 1) (Durbin-Levinson)."""
    k_max = pacf.shape[0]
    rho = [1.0 + 0.0 * pacf[0]] if k_max else []
    coefs: list = []
    for k in range(k_max):
        a = pacf[k]
        if k == 0:
            new = a
        else:
            s1 = sum(coefs[j] * rho[k - j] for j in range(k))
            s2 = sum(coefs[j] * rho[j + 1] for j in range(k))
            new = s1 + a * (1.0 - s2)
        rho.append(new)
        coefs = [coefs[j] - a * coefs[k - 1 - j] for j in range(k)] + [a]
    return np.array(rho[1:]) if k_max else np.zeros(0)


@dataclass(frozen=True)
class CovarianceStructure:
    """A covariance structure over ``T`` ordered time points.

    Attributes
    ----------
    name : str
        ``un``, ``cs``, ``ar1``, ``toep``, ``csh``, ``ar1h`` or ``toeph``.
    label : str
        SAS's "Covariance Structure" wording.
    n_params : callable
        ``T -> number of covariance parameters``.
    linear : bool
        Whether ``sigma`` is linear in ``phi`` (second derivatives vanish).
    """

    name: str
    label: str
    n_params: Callable[[int], int]
    linear: bool
    _sigma: Callable[[np.ndarray, int], np.ndarray]
    _phi: Callable[[np.ndarray, int], np.ndarray]
    _start: Callable[[np.ndarray], np.ndarray]
    _names: Callable[[int], list[str]]

    def __reduce__(self) -> tuple:
        # Registered structures hold lambdas: pickle them by name (fits travel to Dask workers).
        return (get_structure, (self.name,))

    def sigma(self, phi: np.ndarray, t: int) -> np.ndarray:
        """Covariance ``(T, T)`` from natural parameters ``phi`` (real or complex)."""
        return self._sigma(np.asarray(phi), t)

    def phi_from_theta(self, theta: np.ndarray, t: int) -> np.ndarray:
        """Natural parameters from the unconstrained vector ``theta``."""
        return np.asarray(self._phi(np.asarray(theta, dtype=float), t), dtype=float)

    def start(self, empirical: np.ndarray) -> np.ndarray:
        """Starting ``theta`` from an empirical positive-definite covariance ``(T, T)``."""
        return np.asarray(self._start(np.asarray(empirical, dtype=float)), dtype=float)

    def param_names(self, t: int) -> list[str]:
        """SAS's names of the natural parameters (``UN(2,1)``, ``Residual`` ...)."""
        return self._names(t)

    def dsigma(self, phi: np.ndarray, t: int) -> np.ndarray:
        """First derivatives ``(n_params, T, T)`` of ``sigma`` by complex step."""
        phi = np.asarray(phi, dtype=float)
        out = np.empty((phi.size, t, t))
        h = 1e-30
        for i in range(phi.size):
            step = phi.astype(complex)
            step[i] += 1j * h
            out[i] = self._sigma(step, t).imag / h
        return out

    def d2sigma(self, phi: np.ndarray, t: int) -> np.ndarray | None:
        """Second derivatives ``(n_params, n_params, T, T)``; None when all vanish (linear)."""
        if self.linear:
            return None
        phi = np.asarray(phi, dtype=float)
        n = phi.size
        out = np.empty((n, n, t, t))
        for j in range(n):
            h = 1e-5 * max(1.0, abs(phi[j]))
            up, down = phi.copy(), phi.copy()
            up[j] += h
            down[j] -= h
            out[:, j] = (self.dsigma(up, t) - self.dsigma(down, t)) / (2 * h)
        return 0.5 * (out + out.transpose(1, 0, 2, 3))


# --- unstructured: phi = lower triangle row by row (UN(1,1), UN(2,1), UN(2,2), ...) -----------


def _tril(t: int) -> tuple[np.ndarray, np.ndarray]:
    return np.tril_indices(t)


def _un_sigma(phi: np.ndarray, t: int) -> np.ndarray:
    rows, cols = _tril(t)
    out = np.zeros((t, t), dtype=phi.dtype)
    out[rows, cols] = phi
    out[cols, rows] = phi
    return out


def _un_phi(theta: np.ndarray, t: int) -> np.ndarray:
    rows, cols = _tril(t)
    chol = np.zeros((t, t))
    chol[rows, cols] = theta
    chol[np.diag_indices(t)] = np.exp(np.diag(chol))
    full = chol @ chol.T
    return full[rows, cols]


def _un_start(emp: np.ndarray) -> np.ndarray:
    chol = np.linalg.cholesky(emp)
    chol[np.diag_indices(emp.shape[0])] = np.log(np.diag(chol))
    return chol[_tril(emp.shape[0])]


def _un_names(t: int) -> list[str]:
    rows, cols = _tril(t)
    return [f"UN({i + 1},{j + 1})" for i, j in zip(rows, cols)]


# --- homogeneous structures: the variance is the last parameter ('Residual') ------------------


def _cs_sigma(phi: np.ndarray, t: int) -> np.ndarray:
    return phi[0] * np.ones((t, t)) + phi[1] * np.eye(t)


def _cs_phi(theta: np.ndarray, t: int) -> np.ndarray:
    total = np.exp(theta[0])
    low = -1.0 / (t - 1) if t > 1 else -1.0
    rho = low + (1.0 - low) * _sigmoid(theta[1])
    return np.array([rho * total, (1.0 - rho) * total])


def _mean_corr(emp: np.ndarray, lag: int | None = None) -> float:
    d = np.sqrt(np.diag(emp))
    corr = emp / np.outer(d, d)
    lags = _lags(emp.shape[0])
    mask = lags == lag if lag is not None else lags > 0
    return float(np.clip(corr[mask].mean(), -0.5, 0.9)) if mask.any() else 0.0


def _cs_start(emp: np.ndarray) -> np.ndarray:
    t = emp.shape[0]
    low = -1.0 / (t - 1) if t > 1 else -1.0
    rho = max(_mean_corr(emp), low + 0.05)
    p = (rho - low) / (1.0 - low)
    return np.array([np.log(np.mean(np.diag(emp))), np.log(p / (1 - p))])


def _ar1_sigma(phi: np.ndarray, t: int) -> np.ndarray:
    return phi[1] * phi[0] ** _lags(t)


def _ar1_phi(theta: np.ndarray, t: int) -> np.ndarray:
    return np.array([np.tanh(theta[0]), np.exp(theta[1])])


def _ar1_start(emp: np.ndarray) -> np.ndarray:
    return np.array([np.arctanh(_mean_corr(emp, 1)), np.log(np.mean(np.diag(emp)))])


def _toep_sigma(phi: np.ndarray, t: int) -> np.ndarray:
    bands = np.concatenate([phi[-1:], phi[:-1]])
    return bands[_lags(t)]


def _toep_phi(theta: np.ndarray, t: int) -> np.ndarray:
    variance = np.exp(theta[-1])
    return np.concatenate([variance * _pacf_to_acf(np.tanh(theta[:-1])), [variance]])


def _toep_start(emp: np.ndarray) -> np.ndarray:
    t = emp.shape[0]
    pacf = np.zeros(t - 1)
    if t > 1:
        pacf[0] = _mean_corr(emp, 1)
    return np.concatenate([np.arctanh(pacf), [np.log(np.mean(np.diag(emp)))]])


# --- heterogeneous structures: variances first ('Var(i)'), then correlations ----------------


def _hetero(corr: Callable[[np.ndarray, int], np.ndarray]) -> Callable[[np.ndarray, int], np.ndarray]:
    def sigma(phi: np.ndarray, t: int) -> np.ndarray:
        sd = np.sqrt(phi[:t])
        return sd[:, None] * corr(phi[t:], t) * sd[None, :]

    return sigma


def _csh_corr(rho: np.ndarray, t: int) -> np.ndarray:
    return rho[0] * np.ones((t, t)) + (1.0 - rho[0]) * np.eye(t)


def _csh_phi(theta: np.ndarray, t: int) -> np.ndarray:
    low = -1.0 / (t - 1) if t > 1 else -1.0
    return np.concatenate([np.exp(theta[:t]), [low + (1.0 - low) * _sigmoid(theta[t])]])


def _csh_start(emp: np.ndarray) -> np.ndarray:
    t = emp.shape[0]
    low = -1.0 / (t - 1) if t > 1 else -1.0
    p = (max(_mean_corr(emp), low + 0.05) - low) / (1.0 - low)
    return np.concatenate([np.log(np.diag(emp)), [np.log(p / (1 - p))]])


def _ar1h_corr(rho: np.ndarray, t: int) -> np.ndarray:
    return rho[0] ** _lags(t)


def _ar1h_phi(theta: np.ndarray, t: int) -> np.ndarray:
    return np.concatenate([np.exp(theta[:t]), [np.tanh(theta[t])]])


def _ar1h_start(emp: np.ndarray) -> np.ndarray:
    return np.concatenate([np.log(np.diag(emp)), [np.arctanh(_mean_corr(emp, 1))]])


def _toeph_corr(rho: np.ndarray, t: int) -> np.ndarray:
    bands = np.concatenate([np.ones(1, dtype=rho.dtype), rho])
    return bands[_lags(t)]


def _toeph_phi(theta: np.ndarray, t: int) -> np.ndarray:
    return np.concatenate([np.exp(theta[:t]), _pacf_to_acf(np.tanh(theta[t:]))])


def _toeph_start(emp: np.ndarray) -> np.ndarray:
    t = emp.shape[0]
    pacf = np.zeros(t - 1)
    if t > 1:
        pacf[0] = _mean_corr(emp, 1)
    return np.concatenate([np.log(np.diag(emp)), np.arctanh(pacf)])


def _var_names(t: int) -> list[str]:
    return [f"Var({i + 1})" for i in range(t)]


STRUCTURES: dict[str, CovarianceStructure] = {
    s.name: s
    for s in (
        CovarianceStructure(
            "un", "Unstructured", lambda t: t * (t + 1) // 2, True, _un_sigma, _un_phi, _un_start, _un_names
        ),
        CovarianceStructure(
            "cs", "Compound Symmetry", lambda t: 2, True, _cs_sigma, _cs_phi, _cs_start, lambda t: ["CS", "Residual"]
        ),
        CovarianceStructure(
            "ar1", "Autoregressive", lambda t: 2, False, _ar1_sigma, _ar1_phi, _ar1_start,
            lambda t: ["AR(1)", "Residual"],
        ),
        CovarianceStructure(
            "toep", "Toeplitz", lambda t: t, True, _toep_sigma, _toep_phi, _toep_start,
            lambda t: [f"TOEP({k + 1})" for k in range(1, t)] + ["Residual"],
        ),
        CovarianceStructure(
            "csh", "Heterogeneous Compound Symmetry", lambda t: t + 1, False, _hetero(_csh_corr), _csh_phi, _csh_start,
            lambda t: _var_names(t) + ["CSH"],
        ),
        CovarianceStructure(
            "ar1h", "Heterogeneous Autoregressive", lambda t: t + 1, False, _hetero(_ar1h_corr), _ar1h_phi, _ar1h_start,
            lambda t: _var_names(t) + ["ARH(1)"],
        ),
        CovarianceStructure(
            "toeph", "Heterogeneous Toeplitz", lambda t: 2 * t - 1, False, _hetero(_toeph_corr), _toeph_phi,
            _toeph_start,
            lambda t: _var_names(t) + [f"TOEPH({k})" for k in range(1, t)],
        ),
    )
}


# SAS's TYPE= spellings and the mmrm package's names.
_ALIASES = {"arh1": "ar1h", "us": "un", "unstructured": "un", "ar": "ar1"}


def get_structure(name: str) -> CovarianceStructure:
    """The structure registered under ``name`` (case-insensitive); ModelError if unknown."""
    key = name.lower().replace("(", "").replace(")", "").replace("-", "")
    key = _ALIASES.get(key, key)
    if key not in STRUCTURES:
        raise ModelError(f"unknown covariance structure {name!r} (choose from {', '.join(STRUCTURES)})")
    return STRUCTURES[key]


def start_covariance(groups: Sequence[Any], t: int) -> np.ndarray:
    """Starting ``(T, T)`` covariance: pairwise covariance of OLS residuals, shrunk to be positive definite.

    ``groups`` hold ``idx (k,)``, ``X (m, k, p)`` and ``y (m, k)`` per pattern of observed visits.
    """
    xs = np.concatenate([g.X.reshape(-1, g.X.shape[2]) for g in groups])
    ys = np.concatenate([g.y.reshape(-1) for g in groups])
    beta, *_ = np.linalg.lstsq(xs, ys, rcond=None)
    total = np.zeros((t, t))
    count = np.zeros((t, t))
    for g in groups:
        resid = g.y - g.X @ beta
        ix = np.ix_(g.idx, g.idx)
        total[ix] += resid.T @ resid
        count[ix] += resid.shape[0]
    var = np.where(count.diagonal() > 0, total.diagonal() / np.maximum(count.diagonal(), 1), np.nan)
    fallback = np.nanmean(var) if np.isfinite(var).any() else 1.0
    var = np.where(np.isfinite(var) & (var > 0), var, max(fallback, 1e-8))
    cov = np.where(count > 1, total / np.maximum(count, 1), 0.0)
    sd = np.sqrt(var)
    corr = np.clip(cov / np.outer(sd, sd), -0.95, 0.95) * 0.8
    np.fill_diagonal(corr, 1.0)
    vals, vecs = np.linalg.eigh(corr)
    corr = (vecs * np.maximum(vals, 0.05)) @ vecs.T
    d = np.sqrt(np.diag(corr))
    corr = corr / np.outer(d, d)
    return corr * np.outer(sd, sd)
