"""The restricted (or full) likelihood of an MMRM and its optimisation, as SAS PROC MIXED does it.

:class:`Likelihood` evaluates -2 log-likelihood, its gradient and Hessian for
the covariance parameters with ``beta`` profiled out by generalised least
squares; subjects are grouped by their pattern of observed visits
(:class:`SubjectGroup`) so each pattern's covariance is factorised once per
evaluation.  :func:`optimise` runs L-BFGS on the unconstrained parametrisation,
then Newton-Raphson on SAS's natural parameters.  :mod:`.mmrm` builds the
model and its results from these.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg, optimize

from ..errors import ModelError
from .covariance import CovarianceStructure
from .formula import DesignInfo, Formula, design_matrix, model_frame, natural_levels

__all__ = ["Evaluation", "Likelihood", "Optimum", "SubjectGroup", "empty_evaluation", "fixed_optimum", "group_subjects", "newton_steps", "optimise", "prepare_response"]

log = logging.getLogger(__name__)

_LOG2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class SubjectGroup:
    """Subjects sharing one pattern of observed visits."""

    idx: np.ndarray  # (k,) time-level positions, increasing
    X: np.ndarray  # (m, k, p)
    y: np.ndarray  # (m, k)


@dataclass
class Evaluation:
    """Likelihood pieces at one ``phi``; derivatives are with respect to ``phi``."""

    value: float
    beta: np.ndarray  # (p,)
    cov_beta: np.ndarray  # (p, p) = (X'V^-1X)^-1
    grad: np.ndarray | None = None  # (d,)
    hess: np.ndarray | None = None  # (d, d)
    a: np.ndarray | None = None  # (d, p, p)   X'W V_i W X


class Likelihood:
    """-2 (restricted) log-likelihood of one structure on grouped data."""

    def __init__(self, groups: list[SubjectGroup], n_obs: int, n_times: int, structure: CovarianceStructure, method: str):
        self.groups = groups
        self.n_obs = n_obs
        self.p = groups[0].X.shape[2]
        self.t = n_times
        self.structure = structure
        self.reml = method == "reml"

    def evaluate(self, phi: np.ndarray, order: int = 0) -> Evaluation | None:
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
        ev = Evaluation(value=float(value), beta=beta, cov_beta=cov_beta)
        if order >= 1:
            self._derivatives(ev, phi, parts, us, order)
        return ev

    def _derivatives(self, ev: Evaluation, phi: np.ndarray, parts: list, us: list, order: int) -> None:
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


def prepare_response(
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


def group_subjects(
    frame: pd.DataFrame, x: np.ndarray, response: str, subject: str, time: str, times: Sequence[Any]
) -> list[SubjectGroup]:
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
        SubjectGroup(idx=np.array(key), X=np.stack([x[r] for r in rows]), y=np.stack([yv[r] for r in rows]))
        for key, rows in sorted(patterns.items())
    ]


@dataclass(frozen=True)
class Optimum:
    phi: np.ndarray
    ev: Evaluation
    converged: bool
    message: str
    iterations: int


def newton_steps(
    lik: Likelihood, phi: np.ndarray, ev: Evaluation, max_iter: int
) -> tuple[np.ndarray, Evaluation, bool, str, int]:
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


def optimise(lik: Likelihood, start: np.ndarray) -> Optimum:
    """Newton-Raphson from the start; if that fails, L-BFGS on ``theta`` and Newton to polish."""
    structure, t = lik.structure, lik.t
    phi0 = structure.phi_from_theta(start, t)
    ev0 = lik.evaluate(phi0, 2)
    if ev0 is not None:
        phi, ev, converged, message, iterations = newton_steps(lik, phi0, ev0, 30)
        if converged:
            return Optimum(phi, ev, True, message, iterations)
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
        assert ev.grad is not None  # order 1 was asked for
        return ev.value, jac.T @ ev.grad

    options = {"maxiter": 100, "gtol": 1e-7, "ftol": 1e-14}
    result = optimize.minimize(fun, start, jac=True, method="L-BFGS-B", options=options)
    phi = structure.phi_from_theta(result.x, t)
    final = lik.evaluate(phi, 2)
    if final is None:
        return Optimum(phi, lik.evaluate(phi, 0) or empty_evaluation(lik), False, "covariance not positive definite at the optimum", int(result.nit))
    phi, final, converged, message, iterations = newton_steps(lik, phi, final, 50)
    return Optimum(phi, final, converged, message, int(result.nit) + iterations)


def fixed_optimum(lik: Likelihood, phi: np.ndarray) -> Optimum:
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
    return Optimum(phi, ev, True, "covariance parameters fixed", 0)


def empty_evaluation(lik: Likelihood) -> Evaluation:
    return Evaluation(value=float("nan"), beta=np.full(lik.p, np.nan), cov_beta=np.full((lik.p, lik.p), np.nan))
