"""Data-driven gates: thresholds and shapes fitted to each file.

The algorithms here are pure functions of event arrays (already compensated and
transformed); each returns an :class:`AdaptiveFit` recording the fitted
parameters, whether the declared fallback was used and why.  The gate kinds
that use them (:mod:`cytogate.adaptive.specs`, registered in
:data:`cytogate.gates.registry.BUILT_IN_KINDS`) fit a static gate on every file;
:data:`THRESHOLD_METHODS` lists the 1-D methods usable as ``min:``/``max:``
bounds in YAML (``min: density_valley``).
"""

from __future__ import annotations

from collections.abc import Callable

from ._fit import AdaptiveFit
from .density import Density, kde, quantile_threshold
from .mixture import SELECT_RULES, gmm_cluster
from .modes import MODE_ROLES, Mode, Valley, find_modes
from .singlet import singlet_band, wedge_vertices
from .specs import AdaptiveQuadrantGate, AdaptiveRectangleGate, GmmGate, SingletGate, ThresholdRule
from .tail import mode_offset_threshold, tail_threshold
from .valley import density_valley

__all__ = [
    "AdaptiveFit",
    "Density",
    "kde",
    "density_valley",
    "tail_threshold",
    "mode_offset_threshold",
    "quantile_threshold",
    "MODE_ROLES",
    "Mode",
    "Valley",
    "find_modes",
    "gmm_cluster",
    "SELECT_RULES",
    "singlet_band",
    "wedge_vertices",
    "THRESHOLD_METHODS",
    "ThresholdRule",
    "AdaptiveRectangleGate",
    "AdaptiveQuadrantGate",
    "SingletGate",
    "GmmGate",
]

# name used in strategies -> 1-D fitter returning params["threshold"]
THRESHOLD_METHODS: dict[str, Callable[..., AdaptiveFit]] = {
    "density_valley": density_valley,
    "tail": tail_threshold,
    "quantile": quantile_threshold,
    "mode_offset": mode_offset_threshold,
}
