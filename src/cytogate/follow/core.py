"""Template following: every static gate of a strategy registered onto one sample.

The reference (the file the gates were drawn on) is gated once with the
template; for every followed population it keeps its parent's events on the
gate's axes.  Each target is then walked parents first: a gate's parent on the
target is the target's already-followed parent, the parent's density on the
gate's axes is registered onto the reference's, and the gate's geometry is
moved by that map (:mod:`.geometry`).  Densities come from a deterministic
stride through at most ``max_events`` events of the file, so following costs
a fraction of gating it.  A gate whose match scores below ``min_confidence``,
or whose registration fails, keeps its template geometry (status
``fallback``); data-driven and boolean gates are left to the engine.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy.ndimage import map_coordinates

from ..channels import MarkerAliases
from ..errors import CytogateError, MarkerError
from ..gates.dimensions import (
    AnyDimension,
    Dimension,
    RatioDimension,
    resolve_dimension,
)
from ..fcs.sample import Sample
from ..gates.specs import GateSpec
from ..engine.execute import Execution
from ..engine.compile import compile_plan
from ..strategy.tree import Strategy
from .density import Axis, bulk_bounds, common_axis, density_1d, density_2d, finite_rows, stride_rows
from .geometry import MOVABLE_KINDS, line_dimensions, move_gate, uses_plane
from .register import (
    LineMap,
    PlaneMap,
    correlation,
    refine_landmark,
    register_line,
    register_plane,
)
from ..strategy.follow_settings import FollowError, FollowSettings

__all__ = ["MIN_REFERENCE_EVENTS", "FollowOutcome", "FollowedGate", "Reference", "follow_sample"]

log = logging.getLogger(__name__)

#: A followed gate's parent needs at least this many events on the reference.
MIN_REFERENCE_EVENTS = 50
_OWNER = "\0follow"  # owner name of values read for following (never cached by the plan)
_BLOCK = 1 << 16


@dataclass(frozen=True)
class FollowedGate:
    """Where one static gate landed on one sample.

    ``status`` is ``followed`` (moved by the registration), ``fallback``
    (template geometry kept: low confidence or failed registration) or
    ``template`` (pinned with ``follow: false``); ``confidence`` is None for
    pinned gates.
    """

    path: str
    template: GateSpec
    gate: GateSpec
    status: str
    confidence: float | None
    reason: str = ""


@dataclass(frozen=True, eq=False)
class FollowOutcome:
    """The strategy with every followed gate moved onto one sample, and what happened per gate."""

    strategy: Strategy
    gates: tuple[FollowedGate, ...]

    @property
    def flagged(self) -> tuple[str, ...]:
        return tuple(g.path for g in self.gates if g.status == "fallback")


def _strided(sample: Any, max_events: int) -> Sample:
    """Every k-th event of a sample (at most ``max_events``), as an in-memory sample of its own."""
    n = int(sample.n_events)
    step = max(1, -(-n // max_events))
    parts = [np.asarray(events)[(-start) % step::step] for start, events in sample.blocks(_BLOCK, digest=None)]
    events = np.concatenate(parts) if parts else np.empty((0, len(sample.channels)))
    return Sample.from_arrays(events, list(sample.channels), markers=list(sample.markers),
                              spillover=sample.spillover, path=getattr(sample, "path", None))


Bulk = tuple[tuple[float, float] | None, ...]  # bulk_bounds of each row of a (n_dims, m) array


class _PlaneRegistration:
    def __init__(self, reference: np.ndarray, reference_bulk: Bulk, target: np.ndarray,
                 settings: FollowSettings) -> None:
        self.x = common_axis(reference_bulk[0], bulk_bounds(target[0]), settings.bins)
        self.y = common_axis(reference_bulk[1], bulk_bounds(target[1]), settings.bins)
        self.ref_image = density_2d(reference, self.x, self.y)
        self.target_image = density_2d(target, self.x, self.y)
        self.map: PlaneMap = register_plane(self.ref_image, self.target_image, settings)
        self.identity = self.map.identity
        self.lo = np.array([self.x.lo, self.y.lo])
        self.hi = np.array([self.x.hi, self.y.hi])
        self._warped: np.ndarray | None = None

    def _pixels(self, points: np.ndarray) -> np.ndarray:
        return np.column_stack([self.x.to_pixel(points[:, 0]), self.y.to_pixel(points[:, 1])])

    def points(self, points: np.ndarray) -> np.ndarray:
        moved = self.map(self._pixels(np.asarray(points, dtype=np.float64)))
        return np.column_stack([self.x.to_value(moved[:, 0]), self.y.to_value(moved[:, 1])])

    def confidence(self, points: np.ndarray) -> float:
        """Correlation of reference and registered target densities in a window around the gate."""
        if self._warped is None:
            rows, cols = np.indices(self.ref_image.shape, dtype=np.float64)
            moved = self.map(np.column_stack([cols.ravel(), rows.ravel()]))
            self._warped = map_coordinates(self.target_image, [moved[:, 1], moved[:, 0]], order=1,
                                           mode="constant").reshape(self.ref_image.shape)
        px = self._pixels(np.asarray(points, dtype=np.float64))
        margin = 0.1 * self.x.bins
        c0, c1 = (int(np.clip(np.floor(px[:, 0].min() - margin), 0, self.x.bins - 1)),
                  int(np.clip(np.ceil(px[:, 0].max() + margin), 0, self.x.bins - 1)))
        r0, r1 = (int(np.clip(np.floor(px[:, 1].min() - margin), 0, self.y.bins - 1)),
                  int(np.clip(np.ceil(px[:, 1].max() + margin), 0, self.y.bins - 1)))
        window = (slice(r0, r1 + 1), slice(c0, c1 + 1))
        return max(0.0, correlation(self.ref_image[window], self._warped[window]))


class _LineRegistration:
    def __init__(self, reference: np.ndarray, reference_bulk: tuple[float, float] | None, target: np.ndarray,
                 settings: FollowSettings) -> None:
        self.settings = settings
        self.axis: Axis = common_axis(reference_bulk, bulk_bounds(target), settings.bins_1d)
        self.ref_density = density_1d(reference, self.axis)
        self.target_density = density_1d(target, self.axis)
        self.identical = bool(np.array_equal(self.ref_density, self.target_density))
        self.map: LineMap = register_line(self.ref_density, self.target_density, settings)
        self.identity = self.identical and self.map.identity

    @property
    def scale(self) -> float:
        return self.map.scale

    def landmark(self, value: float) -> tuple[float, float]:
        if self.identity:
            return value, 1.0
        pixel = float(self.axis.to_pixel(np.array([value]))[0])
        moved, score = refine_landmark(self.ref_density, self.target_density, self.map, pixel, self.settings)
        return float(self.axis.to_value(np.array([moved]))[0]), score


def _followable(gate: GateSpec) -> bool:
    return not gate.needs_fit and gate.kind in MOVABLE_KINDS and not gate.references


def _dimension_names(dim: AnyDimension) -> tuple[str, ...]:
    if isinstance(dim, RatioDimension):
        return (dim.numerator, dim.denominator)
    return (dim.name,) if isinstance(dim, Dimension) else ()


def _check_channels(strategy: Strategy, sample: Any, aliases: MarkerAliases | None, name: str) -> None:
    """One error naming every channel the gates use that the reference lacks."""
    if aliases is None and strategy.aliases:
        aliases = strategy.aliases
    missing: list[str] = []
    for _, dim in strategy.dimensions():
        for channel in _dimension_names(dim):
            try:
                resolve_dimension(channel, sample, aliases)
            except MarkerError:
                if channel not in missing:
                    missing.append(channel)
    if missing:
        raise FollowError(f"the reference {name} lacks {'a channel' if len(missing) == 1 else 'channels'} the "
                          f"gates use: {', '.join(missing)}", path=getattr(sample, "path", None))


def _plan_run(strategy: Strategy, events: Sample, aliases: MarkerAliases | None) -> Execution:
    return Execution(compile_plan(strategy, events, aliases), events)


def _values(ex: Execution, dims: tuple[AnyDimension, ...], parent: str) -> np.ndarray:
    idx = None if parent == "/" else ex.indices[parent]
    return finite_rows(ex.stacked(dims, idx, _OWNER))


@dataclass(eq=False)
class Reference:
    """The template's reference sample, gated once: what every target is registered onto.

    Parameters
    ----------
    strategy : Strategy
        The template (its static gates are the ones that follow).
    sample : Sample
        The file the gates were drawn on.
    settings : FollowSettings, optional
        Defaults for every gate (``strategy.follow`` settings when None).
    per_population : mapping of path to FollowSettings or None, optional
        Per-gate settings; None pins a gate (``follow: false``).
    aliases : mapping, optional
        Extra marker names, as for :func:`cytogate.gate`.

    Raises
    ------
    FollowError
        The reference lacks a channel the gates use, or a followed gate's parent
        is (nearly) empty on it.
    """

    strategy: Strategy
    sample: Any
    settings: FollowSettings | None = None
    per_population: Mapping[str, FollowSettings | None] | None = None
    aliases: MarkerAliases | None = None
    values: dict[str, dict[tuple[AnyDimension, ...], np.ndarray]] = field(default_factory=dict, init=False)
    bulk: dict[str, dict[tuple[AnyDimension, ...], Bulk]] = field(default_factory=dict, init=False)
    name: str = field(default="", init=False)
    sha256: str = field(default="", init=False)

    def __post_init__(self) -> None:
        spec = getattr(self.strategy, "follow", None)
        if self.settings is None:
            self.settings = spec.settings if spec is not None else FollowSettings()
        if self.per_population is None:
            self.per_population = dict(spec.populations) if spec is not None else {}
        path = getattr(self.sample, "path", None)
        self.name = str(path) if path is not None else (getattr(self.sample, "name", "") or "<in-memory reference>")
        _check_channels(self.strategy, self.sample, self.aliases, self.name)
        events = _strided(self.sample, max([self.settings.max_events, *(s.max_events for s in self.all_settings())]))
        ex = _plan_run(self.strategy, events, self.aliases)
        ex.run(only=frozenset(self.strategy.evaluation_order))
        digest = hashlib.sha256()
        for path_ in self.strategy.evaluation_order:
            pop = self.strategy.by_path[path_]
            settings = self.settings_for(path_)
            if not _followable(pop.gate) or settings is None:
                continue
            rows = None if pop.parent == "/" else ex.indices[pop.parent]
            count = events.n_events if rows is None else int(rows.size)
            if count < MIN_REFERENCE_EVENTS:
                raise FollowError(f"cannot follow this gate: its parent {pop.parent} has {count} events on the "
                                  f"reference {self.name} (pin it with 'follow: false' or choose another "
                                  f"reference)", path=self.strategy.source, population=path_)
            keys = [tuple(pop.gate.dimensions)] if uses_plane(pop.gate) else [(d,) for d in line_dimensions(pop.gate)]
            for dims in keys:
                cut = stride_rows(_values(ex, dims, pop.parent), settings.max_events)
                self.values.setdefault(pop.parent, {})[dims] = cut
                self.bulk.setdefault(pop.parent, {})[dims] = tuple(bulk_bounds(row) for row in cut)
                digest.update(cut.tobytes())
        sha = getattr(self.sample, "sha256", None)
        self.sha256 = sha() if callable(sha) and path is not None else digest.hexdigest()

    def all_settings(self) -> list[FollowSettings]:
        return [s for s in (self.per_population or {}).values() if s is not None]

    def settings_for(self, path: str) -> FollowSettings | None:
        """The settings of one population's gate (None: pinned to the template)."""
        per = self.per_population or {}
        if path in per:
            return per[path]
        return self.settings

    def describe(self) -> dict[str, Any]:
        """What the manifest records: the reference file, its hash and the settings."""
        assert self.settings is not None
        return {"reference": self.name, "reference_sha256": self.sha256, "settings": self.settings.to_dict(),
                "populations": {p: (False if s is None else s.to_dict()) for p, s in (self.per_population or {}).items()}}


def _register(cache: dict[Any, Any], key: Any, build: Any) -> Any:
    if key not in cache:
        cache[key] = build()
    return cache[key]


def follow_sample(strategy: Strategy, reference: Reference, sample: Any, *,
                  aliases: MarkerAliases | None = None) -> FollowOutcome:
    """Every followed gate of ``strategy`` moved onto ``sample`` (parents first).

    Registration problems never raise: the gate keeps its template geometry with
    status ``fallback`` and the reason.  Channel and compensation errors of the
    sample itself raise as for :func:`cytogate.gate`.
    """
    assert reference.settings is not None
    limit = max([reference.settings.max_events, *(s.max_events for s in reference.all_settings())])
    events = _strided(sample, limit)
    ex = _plan_run(strategy, events, aliases)
    replaced: dict[str, GateSpec] = {}
    records: list[FollowedGate] = []
    cache: dict[Any, Any] = {}
    for path in strategy.evaluation_order:
        pop = strategy.by_path[path]
        gate = pop.gate
        settings = reference.settings_for(path)
        if _followable(gate) and settings is None:
            records.append(FollowedGate(path, gate, gate, "template", None, "pinned: follow: false"))
        elif _followable(gate):
            assert settings is not None
            gate = _follow_one(path, pop.parent, gate, reference, ex, settings, cache, records)
            replaced[path] = gate
        ex.evaluate(path, gate, pop.parent)
    pops = tuple(replace(p, gate=replaced[p.path]) if p.path in replaced else p for p in strategy.populations)
    return FollowOutcome(replace(strategy, populations=pops, source_text=""), tuple(records))


def _follow_one(path: str, parent: str, gate: GateSpec, reference: Reference, ex: Execution,
                settings: FollowSettings, cache: dict[Any, Any], records: list[FollowedGate]) -> GateSpec:
    ref_values, ref_bulk = reference.values[parent], reference.bulk[parent]
    try:
        if uses_plane(gate):
            dims = tuple(gate.dimensions)
            plane = _register(cache, (parent, dims, settings), lambda: _PlaneRegistration(
                ref_values[dims], ref_bulk[dims], stride_rows(_values(ex, dims, parent), settings.max_events),
                settings))
            moved, confidence = move_gate(gate, plane, {})
        else:
            lines = {d: _register(cache, (parent, (d,), settings), lambda d=d: _LineRegistration(
                ref_values[(d,)][0], ref_bulk[(d,)][0],
                stride_rows(_values(ex, (d,), parent), settings.max_events)[0], settings))
                for d in line_dimensions(gate)}
            moved, confidence = move_gate(gate, None, lines)
    except (CytogateError, ValueError, FloatingPointError, np.linalg.LinAlgError, RuntimeError) as exc:
        log.warning("%s: registration failed (%s); template geometry kept", path, exc)
        records.append(FollowedGate(path, gate, gate, "fallback", 0.0, f"registration failed: {exc}"))
        return gate
    confidence = float(round(confidence, 6))
    if confidence < settings.min_confidence:
        records.append(FollowedGate(path, gate, gate, "fallback", confidence,
                                    f"confidence {confidence:.2f} below {settings.min_confidence:.2f}"))
        return gate
    records.append(FollowedGate(path, gate, moved, "followed", confidence, ""))
    return moved
