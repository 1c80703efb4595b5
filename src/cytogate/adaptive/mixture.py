"""Gaussian-mixture cluster gate: fit a mixture, keep one component as an ellipsoid.

The mixture is fitted with scikit-learn on (a deterministic subsample of) the
parent's events in transformed units; one component is chosen by a rule (the
highest or lowest mean on a dimension, the largest or smallest weight), and the
static gate that results is the Gating-ML ellipsoid
``(x - mean)^T inv(covariance) (x - mean) <= distance_square`` with
``distance_square`` the chi-square quantile of ``coverage``.  The fitted gate is
therefore ordinary geometry that can be written to Gating-ML and re-run exactly.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy.stats import chi2
from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning
from sklearn.mixture import GaussianMixture

from ..errors import GateError
from ._fit import AdaptiveFit, FitFailed

__all__ = ["SELECT_RULES", "gmm_cluster"]

# rule -> (uses a dimension, picks argmax) ; a registry instead of an if-ladder
SELECT_RULES: dict[str, tuple[bool, bool]] = {
    "highest": (True, True),
    "lowest": (True, False),
    "largest": (False, True),
    "smallest": (False, False),
}


def _pick(rule: str, dim: int | None, means: np.ndarray, weights: np.ndarray) -> int:
    uses_dim, take_max = SELECT_RULES[rule]
    score = means[:, dim] if uses_dim else weights
    return int(np.argmax(score) if take_max else np.argmin(score))


def gmm_cluster(
    events: np.ndarray,
    *,
    n_components: int = 2,
    select: str = "highest",
    dimension: int | None = 0,
    coverage: float = 0.95,
    bounds: Sequence[tuple[float, float] | None] | None = None,
    fallback: dict[str, Sequence] | None = None,
    max_events: int = 20_000,
    random_state: int = 0,
    min_events: int = 50,
    what: str = "gmm",
) -> AdaptiveFit:
    """Fit a Gaussian mixture and return the selected component as an ellipsoid.

    Parameters
    ----------
    events : (n_events, n_dims) array
        Values on the gate's dimensions; rows with NaN or infinities are ignored.
    n_components : int
        Number of mixture components (>= 1).
    select : {"highest", "lowest", "largest", "smallest"}
        Which component: highest / lowest mean on ``dimension``, or largest /
        smallest mixing weight.
    dimension : int, optional
        Column used by "highest" / "lowest".
    coverage : float
        Probability mass of the selected Gaussian inside the ellipsoid, in (0, 1).
    bounds : sequence of (low, high) or None, one per dimension, optional
        The selected component's mean must lie inside these, else the fallback is used.
    fallback : dict with "mean" (n_dims,) and "covariance" (n_dims, n_dims), optional
        Ellipsoid used when fitting fails.
    max_events : int
        At most this many rows (an even stride through the file) are used to fit.
    random_state : int
        Seed of the mixture initialisation, so a file always gives the same gate.
    min_events : int
        Fewer finite rows than this use the fallback.
    what : str
        Name for messages.

    Returns
    -------
    AdaptiveFit
        ``params`` holds ``mean``, ``covariance`` and ``distance_square``.
    """
    x = np.asarray(events, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 1:
        raise GateError(f"{what}: expected an (n_events, n_dims) array, got shape {x.shape}")
    if select not in SELECT_RULES:
        raise GateError(f"{what}: select must be one of {', '.join(SELECT_RULES)}, got {select!r}")
    n_dims = x.shape[1]
    if SELECT_RULES[select][0] and (dimension is None or not 0 <= dimension < n_dims):
        raise GateError(f"{what}: select {select!r} needs a dimension index in [0, {n_dims})")
    if n_components < 1:
        raise GateError(f"{what}: n_components must be >= 1, got {n_components}")
    if not 0.0 < coverage < 1.0:
        raise GateError(f"{what}: coverage must be in (0, 1), got {coverage}")
    if bounds is not None and len(bounds) != n_dims:
        raise GateError(f"{what}: bounds has {len(bounds)} entries for {n_dims} dimensions")
    distance_square = float(chi2.ppf(coverage, n_dims))
    x = x[np.all(np.isfinite(x), axis=1)]
    try:
        if x.shape[0] < max(min_events, 2 * n_components):
            raise FitFailed(f"only {x.shape[0]} events (< {max(min_events, 2 * n_components)})")
        if x.shape[0] > max_events:
            x = x[:: int(np.ceil(x.shape[0] / max_events))]
        # Standardise so k-means initialisation is not dominated by the widest axis;
        # several starts because the likelihood has local optima.
        centre, scale = x.mean(axis=0), x.std(axis=0)
        if np.any(scale <= 0):
            raise FitFailed("a dimension has zero variance")
        z = (x - centre) / scale
        model = GaussianMixture(
            n_components=n_components, covariance_type="full", random_state=random_state, n_init=3
        )
        with warnings.catch_warnings():
            warnings.simplefilter("error", SkConvergenceWarning)
            try:
                model.fit(z)
            except SkConvergenceWarning:
                raise FitFailed("mixture fit did not converge") from None
            except ValueError as exc:
                raise FitFailed(f"mixture fit failed: {exc}") from None
        means = model.means_ * scale + centre
        chosen = _pick(select, dimension, means, model.weights_)
        mean = means[chosen]
        covariance = model.covariances_[chosen] * np.outer(scale, scale)
        for axis, bound in enumerate(bounds or []):
            if bound is not None and not bound[0] <= mean[axis] <= bound[1]:
                raise FitFailed(
                    f"selected component mean {mean[axis]:.4g} on dimension {axis} "
                    f"outside bounds [{bound[0]:.4g}, {bound[1]:.4g}]"
                )
    except FitFailed as error:
        if fallback is None:
            raise GateError(f"{what}: gmm fit failed ({error}) and no fallback is declared") from None
        return AdaptiveFit(
            method="gmm",
            params={
                "mean": [float(v) for v in fallback["mean"]],
                "covariance": np.asarray(fallback["covariance"], dtype=float).tolist(),
                "distance_square": distance_square,
            },
            used_fallback=True,
            reason=str(error),
            n_events=int(x.shape[0]),
        )
    return AdaptiveFit(
        method="gmm",
        params={"mean": mean.tolist(), "covariance": covariance.tolist(), "distance_square": distance_square},
        n_events=int(x.shape[0]),
        diagnostics={
            "weights": model.weights_.tolist(),
            "means": means.tolist(),
            "selected": chosen,
        },
    )
