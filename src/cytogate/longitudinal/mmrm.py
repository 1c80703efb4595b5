"""Mixed model for repeated measures (MMRM), fitted as SAS PROC MIXED does.

The model is ``y_s = X_s beta + e_s`` for each subject ``s``, with
``e_s ~ N(0, Sigma[idx_s, idx_s])``: one ``(T, T)`` covariance ``Sigma`` over
the ordered time levels, of which each subject sees the rows and columns of
the visits it has (missing visits are simply absent, as with SAS's
``REPEATED visit / subject=id``).  Rows with a missing response or a missing
covariate are dropped, as SAS does.

Estimation profiles ``beta`` out by generalised least squares and optimises
the covariance parameters: L-BFGS on an unconstrained parametrisation
(log-Cholesky for ``un``) with the analytic gradient, then Newton-Raphson
steps on SAS's natural parameters with the analytic Hessian until the
Newton decrement is negligible.  Subjects are grouped by their pattern of
observed visits so that each pattern's covariance is factorised once per
evaluation.

The -2 log-likelihoods are SAS's: REML
``log|V| + log|X'V^-1X| + r'V^-1r + (n-p) log(2 pi)``, ML
``log|V| + r'V^-1r + n log(2 pi)``.

Inference (Satterthwaite and Kenward-Roger) lives in :mod:`.lsmeans`.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg, optimize

from ..errors import ConvergenceWarning, ModelError
from . import lsmeans as _inference
from .covariance import FALLBACK, CovarianceStructure, get_structure, start_covariance
from .formula import DesignInfo, Formula, design_matrix, independent_columns, model_frame, natural_levels

__all__ = ["fit_mmrm", "MmrmFit"]

log = logging.getLogger(__name__)

_LOG2PI = math.log(2.0 * math.pi)
METHODS = ("reml", "ml")
DF_METHODS = ("satterthwaite", "kenward-roger")


@dataclass(frozen=True)
class _Group:
    """Subjects sharing one pattern of observed visits."""

    idx: np.ndarray  # (k,) time-level positions, increasing
    X: np.ndarray  # (m, k, p)
    y: np.ndarray  # (m, k)


@dataclass
class _Evaluation:
    """Likelihood pieces at one ``phi``; derivatives are with respect to ``phi``."""

    value: float
    beta: np.ndarray  # (p,)
    cov_beta: np.ndarray  # (p, p) = (X'V^-1X)^-1
    grad: np.ndarray | None = None  # (d,)
    hess: np.ndarray | None = None  # (d, d)
    a: np.ndarray | None = None  # (d, p, p)   X'W V_i W X


class _Likelihood:
    """-2 (restricted) log-likelihood of one structure on grouped data."""

    def __init__(self, groups: list[_Group], n_obs: int, n_times: int, structure: CovarianceStructure, method: str):
        self.groups = groups
        self.n_obs = n_obs
        self.p = groups[0].X.shape[2]
        self.t = n_times
        self.structure = structure
        self.reml = method == "reml"

    def evaluate(self, phi: np.ndarray, order: int = 0) -> _Evaluation | None:
        """Value (and derivatives up to ``order``) at ``phi``; None if ``Sigma`` is not positive definite."""
        if not np.all(np.isfinite(phi)):
            return None
        sigma = self.structure.sigma(phi, self.t).real
        if not np.all(np.isfinite(sigma)):
            return None
        p = self.p
        logdet = 0.0
        xtwx = np.zeros((p, p))
        xtwy = np.zeros(p)
        parts = []
        for g in self.groups:
            sub = sigma[np.ix_(g.idx, g.idx)]
            try:
                chol = linalg.cholesky(sub, lower=True)
            except linalg.LinAlgError:
                return None
            diag = np.diag(chol)
            if not np.all(diag > 1e-10 * math.sqrt(max(sub.max(), 1e-300))):
                return None
            w = linalg.cho_solve((chol, True), np.eye(len(g.idx)))
            w = 0.5 * (w + w.T)
            logdet += g.y.shape[0] * 2.0 * np.log(diag).sum()
            wx = np.einsum("kl,mlb->mkb", w, g.X)
            xtwx += np.einsum("mka,mkb->ab", g.X, wx)
            xtwy += np.einsum("mka,mk->a", wx, g.y)
            parts.append((w, wx))
        try:
            chol_x = linalg.cholesky(xtwx, lower=True)
        except linalg.LinAlgError:
            return None
        cov_beta = linalg.cho_solve((chol_x, True), np.eye(p))
        beta = cov_beta @ xtwy
        quad = 0.0
        us = []
        for g, (w, _) in zip(self.groups, parts):
            resid = g.y - g.X @ beta
            u = resid @ w
            quad += float(np.sum(u * resid))
            us.append(u)
        if self.reml:
            value = logdet + 2.0 * np.log(np.diag(chol_x)).sum() + quad + (self.n_obs - p) * _LOG2PI
        else:
            value = logdet + quad + self.n_obs * _LOG2PI
        ev = _Evaluation(value=float(value), beta=beta, cov_beta=cov_beta)
        if order >= 1:
            self._derivatives(ev, phi, parts, us, order)
        return ev

    def _derivatives(self, ev: _Evaluation, phi: np.ndarray, parts: list, us: list, order: int) -> None:
        """Gradient (and Hessian) of -2LL in ``phi``.

        The (d, d, p, p) tensors ``X'W V_i W V_j W X`` are never formed: their
        traces against ``C`` are traces of k x k matrices against
        ``H_g = sum_m (W X_m) C (W X_m)'`` per visit pattern.
        """
        d, p, c = len(phi), self.p, ev.cov_beta
        dsig = self.structure.dsigma(phi, self.t)
        d2sig = self.structure.d2sigma(phi, self.t) if order >= 2 else None
        tr_wv = np.zeros(d)
        a = np.zeros((d, p, p))
        ypvpy = np.zeros(d)
        tr_wvwv = np.zeros((d, d))
        tr_cb = np.zeros((d, d))
        qwq = np.zeros((d, d))
        xtwq = np.zeros((d, p))
        tr_wvij = np.zeros((d, d))
        tr_cr = np.zeros((d, d))
        ypvijpy = np.zeros((d, d))
        # Contractions go through matmul/tensordot (BLAS); shapes: wx (m,k,p), u (m,k), dsg (d,k,k).
        for g, (w, wx), u in zip(self.groups, parts, us):
            m = g.y.shape[0]
            ix = np.ix_(g.idx, g.idx)
            dsg = dsig[:, ix[0], ix[1]]
            tr_wv += m * np.einsum("kl,ilk->i", w, dsg)
            vwx = np.matmul(dsg[:, None], wx[None])  # (d, m, k, p)  V_i W X
            a += np.tensordot(vwx, wx, axes=([1, 2], [0, 1]))
            q = np.matmul(u, dsg)  # (d, m, k)  (V_i u)' per subject (V_i symmetric)
            ypvpy += np.tensordot(q, u, axes=([1, 2], [0, 1]))
            if order < 2:
                continue
            wv = np.matmul(w, dsg)  # (d, k, k)  W V_i
            tr_wvwv += m * np.einsum("ikl,jlk->ij", wv, wv)
            h = np.tensordot(wx @ c, wx, axes=([0, 2], [0, 2]))  # (k, k)  H_g
            tr_cb += np.einsum("ikl,jlk->ij", np.matmul(dsg, w), np.matmul(dsg, h))
            qwq += np.tensordot(q, np.matmul(q, w), axes=([1, 2], [1, 2]))
            xtwq += np.tensordot(q, wx, axes=([1, 2], [0, 1]))
            if d2sig is not None:
                d2g = d2sig[:, :, ix[0], ix[1]]
                tr_wvij += m * np.einsum("kl,ijlk->ij", w, d2g)
                tr_cr += np.einsum("ijkl,lk->ij", d2g, h)
                ypvijpy += np.tensordot(np.matmul(u, d2g), u, axes=([2, 3], [0, 1]))
        ca = np.matmul(c, a)  # C A_i
        if self.reml:
            ev.grad = tr_wv - np.einsum("iaa->i", ca) - ypvpy
        else:
            ev.grad = tr_wv - ypvpy
        ev.a = a
        if order < 2:
            return
        ypvpvpy = qwq - np.einsum("ia,ab,jb->ij", xtwq, c, xtwq)
        if self.reml:
            tr_pvpv = tr_wvwv - 2.0 * tr_cb + np.einsum("iab,jba->ij", ca, ca)
            hess = (tr_wvij - tr_cr) - tr_pvpv + 2.0 * ypvpvpy - ypvijpy
        else:
            hess = tr_wvij - tr_wvwv + 2.0 * ypvpvpy - ypvijpy
        ev.hess = 0.5 * (hess + hess.T)

    def kr_terms(self, phi: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``sum_ij W_ij Q_ij`` and ``sum_ij W_ij R_ij`` (both ``(p, p)``) for Kenward-Roger.

        ``Q_ij = X'W V_i W V_j W X`` and ``R_ij = X'W V_ij W X``, summed with the
        weights ``W : (d, d)`` per visit pattern as ``(WX)' M_g (WX)``.
        """
        sigma = self.structure.sigma(phi, self.t).real
        dsig = self.structure.dsigma(phi, self.t)
        d2sig = self.structure.d2sigma(phi, self.t)
        q_sum = np.zeros((self.p, self.p))
        r_sum = np.zeros((self.p, self.p))
        for g in self.groups:
            ix = np.ix_(g.idx, g.idx)
            w = np.linalg.inv(sigma[ix])
            wx = np.matmul(w, g.X)
            dsg = dsig[:, ix[0], ix[1]]
            middle = np.einsum("ij,ikl,lm,jmn->kn", weights, dsg, w, dsg)
            if d2sig is not None:
                r_mid = np.einsum("ij,ijkl->kl", weights, d2sig[:, :, ix[0], ix[1]])
                r_sum += np.tensordot(wx, np.matmul(r_mid, wx), axes=([0, 1], [0, 1]))
            q_sum += np.tensordot(wx, np.matmul(middle, wx), axes=([0, 1], [0, 1]))
        return q_sum, r_sum


def _prepare(
    data: pd.DataFrame, formula: Formula, subject: str, time: str, factors: Sequence[str] | None,
    reference: Mapping[str, object] | None,
) -> tuple[pd.DataFrame, np.ndarray, DesignInfo, list[Any]]:
    """Clean rows, build the design, order time levels; checks every column."""
    frame = model_frame(data, formula, {"subject": subject, "time": time})
    dup = frame.duplicated(subset=[subject, time], keep=False)
    if dup.any():
        first = frame.loc[dup, [subject, time]].iloc[0]
        raise ModelError(
            f"subject {first[subject]!r} has more than one row at {time} = {first[time]!r} "
            f"(column {time!r} must identify one visit per subject)"
        )
    series = frame[time]
    if isinstance(series.dtype, pd.CategoricalDtype):
        present = set(series.unique())
        times = [lvl for lvl in series.cat.categories if lvl in present]
    else:
        times = natural_levels(series.tolist())
    x, info = design_matrix(frame, formula, factors=factors, reference=reference)
    return frame, x, info, times


def _group_subjects(
    frame: pd.DataFrame, x: np.ndarray, response: str, subject: str, time: str, times: Sequence[Any]
) -> list[_Group]:
    """Stack subjects by their pattern of observed visits (rows of ``x : (n_obs, p)`` follow ``frame``)."""
    position = {lvl: i for i, lvl in enumerate(times)}
    tpos = frame[time].map(position).to_numpy(dtype=int)
    subj = frame[subject].to_numpy()
    yv = frame[response].to_numpy(dtype=float)
    order = np.lexsort((tpos, pd.factorize(subj)[0]))
    codes = pd.factorize(subj[order])[0]
    bounds = np.flatnonzero(np.diff(codes)) + 1
    patterns: dict[tuple[int, ...], list[np.ndarray]] = {}
    for rows in np.split(order, bounds):
        patterns.setdefault(tuple(tpos[rows]), []).append(rows)
    return [
        _Group(idx=np.array(key), X=np.stack([x[r] for r in rows]), y=np.stack([yv[r] for r in rows]))
        for key, rows in sorted(patterns.items())
    ]


@dataclass(frozen=True)
class _Optimum:
    phi: np.ndarray
    ev: _Evaluation
    converged: bool
    message: str
    iterations: int


def _newton(
    lik: _Likelihood, phi: np.ndarray, ev: _Evaluation, max_iter: int
) -> tuple[np.ndarray, _Evaluation, bool, str, int]:
    """Newton-Raphson on the natural parameters with step halving, as PROC MIXED iterates.

    Converged when the Newton decrement ``g' H^-1 g`` is below ``1e-11 * |-2LL|``
    with a positive-definite Hessian (a local minimum, not a saddle).
    """
    message = "iteration limit reached"
    for iteration in range(1, max_iter + 1):
        try:
            chol = linalg.cho_factor(ev.hess)
        except (linalg.LinAlgError, ValueError):
            message = "Hessian of the likelihood is not positive definite (estimate on a boundary?)"
            return phi, ev, False, message, iteration
        step = linalg.cho_solve(chol, ev.grad)
        decrement = float(ev.grad @ step)
        scale = max(1.0, abs(ev.value))
        if decrement < 1e-11 * scale:
            return phi, ev, True, "convergence criterion met", iteration
        size = 1.0
        while size > 1e-6:
            trial = lik.evaluate(phi - size * step, 2)
            if trial is not None and trial.value <= ev.value + 1e-12 * scale:
                phi, ev = phi - size * step, trial
                break
            size /= 2
        else:
            # No downhill step left: accept if already within rounding of the optimum.
            ok = decrement < 1e-6 * scale
            return phi, ev, ok, "convergence criterion met" if ok else "Newton line search failed", iteration
    return phi, ev, False, message, max_iter


def _optimise(lik: _Likelihood, start: np.ndarray) -> _Optimum:
    """Newton-Raphson from the start; if that fails, L-BFGS on ``theta`` and Newton to polish."""
    structure, t = lik.structure, lik.t
    phi0 = structure.phi_from_theta(start, t)
    ev0 = lik.evaluate(phi0, 2)
    if ev0 is not None:
        phi, ev, converged, message, iterations = _newton(lik, phi0, ev0, 30)
        if converged:
            return _Optimum(phi, ev, True, message, iterations)
    state: dict[str, float] = {"best": np.inf}

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        phi = structure.phi_from_theta(theta, t)
        ev = lik.evaluate(phi, 1)
        if ev is None or not np.isfinite(ev.value):
            # Outside the numerically usable region: a cliff the line search backs away from.
            return state["best"] + 1e6, np.zeros_like(theta)
        state["best"] = min(state["best"], ev.value)
        jac = np.empty((phi.size, theta.size))
        for k in range(theta.size):
            h = 1e-6 * max(1.0, abs(theta[k]))
            up, down = theta.copy(), theta.copy()
            up[k] += h
            down[k] -= h
            jac[:, k] = (structure.phi_from_theta(up, t) - structure.phi_from_theta(down, t)) / (2 * h)
        return ev.value, jac.T @ ev.grad

    options = {"maxiter": 100, "gtol": 1e-7, "ftol": 1e-14}
    result = optimize.minimize(fun, start, jac=True, method="L-BFGS-B", options=options)
    phi = structure.phi_from_theta(result.x, t)
    ev = lik.evaluate(phi, 2)
    if ev is None:
        ev = lik.evaluate(phi, 0) or _empty_eval(lik)
        return _Optimum(phi, ev, False, "covariance not positive definite at the optimum", int(result.nit))
    phi, ev, converged, message, iterations = _newton(lik, phi, ev, 50)
    return _Optimum(phi, ev, converged, message, int(result.nit) + iterations)


def _fixed(lik: _Likelihood, phi: np.ndarray) -> _Optimum:
    """No estimation: evaluate at given natural parameters (SAS's PARMS ... / NOITER)."""
    expected = lik.structure.n_params(lik.t)
    names = lik.structure.param_names(lik.t)
    if phi.shape != (expected,):
        raise ModelError(
            f"cov_params needs {expected} values for {lik.structure.name} ({', '.join(names)}), got {phi.size}"
        )
    ev = lik.evaluate(phi, 2)
    if ev is None:
        raise ModelError(f"cov_params {list(phi)} do not give a positive-definite {lik.structure.name} covariance")
    return _Optimum(phi, ev, True, "covariance parameters fixed", 0)


def _empty_eval(lik: _Likelihood) -> _Evaluation:
    return _Evaluation(value=float("nan"), beta=np.full(lik.p, np.nan), cov_beta=np.full((lik.p, lik.p), np.nan))


@dataclass(frozen=True, eq=False)
class MmrmFit:
    """A fitted MMRM: estimates, covariance, fit statistics and inference helpers.

    Attributes
    ----------
    coef : DataFrame
        ``term, estimate, se, df, t, p`` for each fixed-effect column (aliased columns have NaN).
    neg2_loglik : float
        -2 (restricted) log-likelihood as SAS prints it.
    aic, aicc, bic : float
        SAS's information criteria (REML: covariance parameters only; BIC uses the number of subjects).
    n_subjects : int
        Subjects with usable design values (SAS's "Subjects", counted whatever the response).
    cov_structure : str
        Structure actually used (after any fallback); ``requested_structure`` the one asked for.
    cov_params : DataFrame
        ``name, estimate`` of the natural covariance parameters (SAS's names).
    covariance : DataFrame
        Estimated ``(T, T)`` covariance over time levels.
    notes : list of str
        What happened (fallbacks, dropped rows, aliased columns).
    converged : bool
    """

    formula: Formula
    design: DesignInfo
    subject: str
    time: str
    times: tuple[Any, ...]
    method: str
    df_method: str
    requested_structure: str
    cov_structure: str
    converged: bool
    neg2_loglik: float
    n_obs: int
    n_subjects: int
    beta: np.ndarray  # (p,) over all design columns, NaN where aliased
    keep: np.ndarray  # (p,) bool, non-aliased columns
    cov_beta: np.ndarray  # (q, q) over kept columns
    phi: np.ndarray  # (d,)
    phi_cov: np.ndarray  # (d, d) asymptotic covariance of phi (inverse observed information)
    derivs: dict[str, Any] = field(repr=False)
    x: np.ndarray = field(repr=False)  # (n_obs, p) design used
    notes: list[str] = field(default_factory=list)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_cov_params(self) -> int:
        return int(self.phi.size)

    @property
    def _ic_params(self) -> int:
        # SAS counts the fixed effects in the information criteria only for ML.
        return self.n_cov_params + (0 if self.method == "reml" else int(self.keep.sum()))

    @property
    def aic(self) -> float:
        return self.neg2_loglik + 2 * self._ic_params

    @property
    def aicc(self) -> float:
        """SAS's small-sample AIC: ``n*`` is ``n - rank(X)`` for REML and ``n`` for ML."""
        k = self._ic_params
        n_eff = self.n_obs - (int(self.keep.sum()) if self.method == "reml" else 0)
        return self.neg2_loglik + 2 * k * n_eff / max(n_eff - k - 1, 1)

    @property
    def bic(self) -> float:
        return self.neg2_loglik + self._ic_params * math.log(self.n_subjects)

    @property
    def cov_params(self) -> pd.DataFrame:
        names = get_structure(self.cov_structure).param_names(len(self.times))
        return pd.DataFrame({"name": names, "estimate": self.phi})

    @property
    def covariance(self) -> pd.DataFrame:
        sigma = get_structure(self.cov_structure).sigma(self.phi, len(self.times)).real
        labels = [str(t) for t in self.times]
        return pd.DataFrame(sigma, index=labels, columns=labels)

    @property
    def coef(self) -> pd.DataFrame:
        if "coef" not in self._cache:
            rows = np.eye(self.keep.size)
            table = _inference.estimate_table(self, rows)[["estimate", "se", "df", "t", "p"]]
            table.insert(0, "term", list(self.design.column_names))
            self._cache["coef"] = table
        return self._cache["coef"].copy()

    def lsmeans(self, spec: str | Sequence[str], *, alpha: float = 0.05) -> pd.DataFrame:
        """LS means per combination of the factors in ``spec`` (``"ARMCD:AVISIT"``); see :func:`.lsmeans.lsmeans`."""
        return _inference.lsmeans(self, spec, alpha=alpha)

    def contrasts(
        self, control: Mapping[str, object], by: str | Sequence[str] | None = None, *, alpha: float = 0.05
    ) -> pd.DataFrame:
        """Each level minus ``control`` (``{"ARMCD": "PBO"}``), per level of ``by``; see :func:`.lsmeans.contrasts`."""
        return _inference.contrasts(self, control, by, alpha=alpha)

    def estimate(self, weights: np.ndarray, *, alpha: float = 0.05) -> pd.DataFrame:
        """Estimate of ``weights @ beta`` for rows ``weights : (k, n_columns)``, with se, df, t, p and CI."""
        return _inference.estimate_table(self, np.atleast_2d(weights), alpha=alpha)

    def ftest(self, weights: np.ndarray) -> dict[str, float]:
        """Wald F test of ``weights @ beta = 0`` (``weights : (q, n_columns)``); see :func:`.lsmeans.ftest`."""
        return _inference.ftest(self, weights)

    def type3(self) -> pd.DataFrame:
        """SAS's Type 3 tests of fixed effects: ``effect, num_df, den_df, F, p``."""
        return _inference.type3(self)

    def summary(self) -> dict[str, Any]:
        """Plain-data description of the fit (what ``fit.json`` holds)."""
        return {
            "formula": f"{self.formula.response} ~ {' + '.join(t.label for t in self.formula.terms) or '1'}"
            + ("" if self.formula.intercept else " - 1"),
            "subject": self.subject,
            "time": self.time,
            "time_levels": [str(t) for t in self.times],
            "method": self.method,
            "df": self.df_method,
            "requested_structure": self.requested_structure,
            "cov_structure": self.cov_structure,
            "converged": self.converged,
            "neg2_loglik": self.neg2_loglik,
            "aic": self.aic,
            "aicc": self.aicc,
            "bic": self.bic,
            "n_obs": self.n_obs,
            "n_subjects": self.n_subjects,
            "cov_params": {n: float(v) for n, v in zip(self.cov_params["name"], self.phi)},
            "reference": {k: str(v) for k, v in self.design.reference.items()},
            "notes": list(self.notes),
        }


def fit_mmrm(
    data: pd.DataFrame,
    formula: str | Formula,
    *,
    subject: str,
    time: str,
    cov: str = "un",
    method: str = "reml",
    df: str = "satterthwaite",
    reference: Mapping[str, object] | None = None,
    factors: Sequence[str] | None = None,
    cov_params: Sequence[float] | None = None,
) -> MmrmFit:
    """Fit a mixed model for repeated measures, SAS PROC MIXED style.

    Parameters
    ----------
    data : DataFrame
        Long table, one row per subject and visit.
    formula : str or Formula
        Fixed effects, e.g. ``"FEV1 ~ RACE + SEX + ARMCD*AVISIT"``.
    subject, time : str
        Columns identifying the subject and the repeated (visit) level.
    cov : {"un", "cs", "ar1", "toep", "csh", "ar1h", "toeph"}
        Within-subject covariance structure.  When a fit does not converge the
        next simpler one is tried (un -> toeph -> ar1h -> cs), with a note and
        a :class:`~cytogate.errors.ConvergenceWarning`.
    method : {"reml", "ml"}
    df : {"satterthwaite", "kenward-roger"}
        Degrees of freedom (and, for Kenward-Roger, the bias-adjusted covariance of beta).
    reference : mapping, optional
        Factor -> reference level (default: the last level, as SAS).
    factors : sequence of str, optional
        Numeric columns to treat as factors.
    cov_params : sequence of float, optional
        Hold the covariance parameters at these natural values (SAS's
        ``PARMS ... / NOITER``; order as ``fit.cov_params["name"]``) instead of
        estimating them; inference is then computed at these values.

    Returns
    -------
    MmrmFit
    """
    method = method.lower()
    if method not in METHODS:
        raise ModelError(f"unknown estimation method {method!r} (choose from {', '.join(METHODS)})")
    df = df.lower().replace("_", "-").replace(" ", "-")
    if df in ("kr", "kenwardroger"):
        df = "kenward-roger"
    if df not in DF_METHODS:
        raise ModelError(f"unknown degrees-of-freedom method {df!r} (choose from {', '.join(DF_METHODS)})")
    structure = get_structure(cov)
    parsed = Formula.parse(formula) if isinstance(formula, str) else formula
    reference = dict(reference or {})
    if time not in parsed.variables:
        # A reference for the repeated effect alone changes nothing here (see covariance.py).
        reference.pop(time, None)
    frame, x_full, info, times = _prepare(data, parsed, subject, time, factors, reference)
    notes: list[str] = []
    dropped = len(data) - len(frame)
    if dropped:
        notes.append(f"{dropped} of {len(data)} rows not used (missing response or covariate)")
    keep = independent_columns(x_full)
    if not keep.all():
        aliased = [n for n, k in zip(info.column_names, keep) if not k]
        notes.append(f"aliased columns set to 0 (not estimable): {', '.join(aliased)}")
    x = x_full[:, keep]
    if x.shape[1] == 0:
        raise ModelError("the design has no estimable column: nothing to fit")
    if len(frame) <= x.shape[1]:
        raise ModelError(
            f"{len(frame)} usable rows for {x.shape[1]} fixed effects: nothing left to estimate the covariance"
        )
    groups = _group_subjects(frame, x, parsed.response, subject, time, times)
    # SAS counts subjects over rows with usable class/covariate values, whatever the response (BIC uses it).
    design_cols = list(dict.fromkeys([subject, time, *parsed.variables]))
    n_subjects = int(data.dropna(subset=design_cols)[subject].nunique())
    empirical = start_covariance(groups, len(times))

    current: str | None = None if cov_params is not None else structure.name
    if cov_params is not None:
        struct = structure
        lik = _Likelihood(groups, len(frame), len(times), struct, method)
        opt = _fixed(lik, np.asarray(cov_params, dtype=float))
        notes.append("covariance parameters held at the given values (not estimated)")
    while current is not None:
        struct = get_structure(current)
        lik = _Likelihood(groups, len(frame), len(times), struct, method)
        # Trial points far out in theta may overflow; they are rejected, not errors.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            opt = _optimise(lik, struct.start(empirical))
        if opt.converged:
            break
        nxt = FALLBACK.get(current)
        text = f"{struct.label} ({current}) fit did not converge: {opt.message}"
        if nxt is None or len(times) < 2:
            notes.append(text + "; no simpler structure left, results are unreliable")
            warnings.warn(f"MMRM: {text}; results are unreliable", ConvergenceWarning, stacklevel=2)
            break
        notes.append(text + f"; fell back to {get_structure(nxt).label} ({nxt})")
        warnings.warn(f"MMRM: {text}; falling back to {nxt}", ConvergenceWarning, stacklevel=2)
        current = nxt
    ev = opt.ev
    try:
        phi_cov = 2.0 * np.linalg.inv(ev.hess) if ev.hess is not None else np.full((opt.phi.size,) * 2, np.nan)
    except (linalg.LinAlgError, ValueError):
        phi_cov = np.full((opt.phi.size,) * 2, np.nan)
    beta = np.full(keep.size, np.nan)
    beta[keep] = ev.beta
    log.debug("MMRM %s/%s: -2LL %.6f after %d iterations", struct.name, method, ev.value, opt.iterations)
    return MmrmFit(
        formula=parsed,
        design=info,
        subject=subject,
        time=time,
        times=tuple(times),
        method=method,
        df_method=df,
        requested_structure=structure.name,
        cov_structure=struct.name,
        converged=opt.converged,
        neg2_loglik=float(ev.value),
        n_obs=len(frame),
        n_subjects=n_subjects,
        beta=beta,
        keep=keep,
        cov_beta=ev.cov_beta,
        phi=opt.phi,
        phi_cov=phi_cov,
        derivs={"a": ev.a, "likelihood": lik},
        x=x_full,
        notes=notes,
    )
