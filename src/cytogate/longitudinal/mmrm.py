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
from scipy import linalg

from ..errors import ConvergenceWarning, ModelError
from . import lsmeans as _inference
from .covariance import FALLBACK, get_structure, start_covariance
from .formula import DesignInfo, Formula, independent_columns
from .reml import Likelihood, fixed_optimum, group_subjects, optimise, prepare_response

__all__ = ["fit_mmrm", "MmrmFit"]

log = logging.getLogger(__name__)

_LOG2PI = math.log(2.0 * math.pi)
METHODS = ("reml", "ml")
DF_METHODS = ("satterthwaite", "kenward-roger")


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
    frame, x_full, info, times = prepare_response(data, parsed, subject, time, factors, reference)
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
    groups = group_subjects(frame, x, parsed.response, subject, time, times)
    # SAS counts subjects over rows with usable class/covariate values, whatever the response (BIC uses it).
    design_cols = list(dict.fromkeys([subject, time, *parsed.variables]))
    n_subjects = int(data.dropna(subset=design_cols)[subject].nunique())
    empirical = start_covariance(groups, len(times))

    current: str | None = None if cov_params is not None else structure.name
    if cov_params is not None:
        struct = structure
        lik = Likelihood(groups, len(frame), len(times), struct, method)
        opt = fixed_optimum(lik, np.asarray(cov_params, dtype=float))
        notes.append("covariance parameters held at the given values (not estimated)")
    while current is not None:
        struct = get_structure(current)
        lik = Likelihood(groups, len(frame), len(times), struct, method)
        # Trial points far out in theta may overflow; they are rejected, not errors.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            opt = optimise(lik, struct.start(empirical))
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
