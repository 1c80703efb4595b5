"""Vectorised event generation: the mixture of :mod:`.populations` through a panel.

Signal model per event and fluorescence detector ``j`` (units: compensated
linear values of the detector's own fluorochrome):

``u_j = s_j + a_j + e_j`` with

* ``s_j`` the specific stain: ``level · exp(sigma · z)`` for the event's
  population (0 when it does not carry the antigen), times the staining shift;
* ``a_j`` the cell's autofluorescence: one lognormal factor per cell times a
  per-laser factor (strongest in UV/violet detectors, weakest in red ones);
* ``e_j`` Gaussian measurement noise with variance ``50² + 1.5·(s_j + a_j) +
  1.2² · Σ_i S[i, j] · s_i`` evaluated at the population's median signal:
  electronic background, photon statistics, and the spreading error that
  bright stains cause in the detectors they spill into.

So negatives after compensation scatter around a small positive value and
include negative values, wider where a bright stain spills in — as in real
compensated data.  Raw detector values are ``(u @ S) · g`` (spillover ``S``,
detector gains ``g``); the sample keeps ``u · g`` as the unspilled truth.

Scatter: lognormal FSC-A / SSC-A per population; FSC-H = FSC-A × 0.82 (±3%)
for single cells.  A doublet adds the areas and fluorescence of two cells
while its height is the larger single height × 0.95–1.1, so FSC-H/FSC-A ≈ 0.45
instead of 0.82.  Dead cells keep their population's markers at 60% with FSC
× 0.7, SSC × 1.25 and Live/Dead ≈ 20,000.  Scatter saturates at 262,143.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..errors import SynthError
from .panels import SCATTER_RANGE, Panel
from .populations import BEAD, BEAD_LEVEL, CATEGORIES, DEAD_LIVE_DEAD, DEBRIS, LEAVES
from .shift import Shift

__all__ = ["Composition", "GeneratedEvents", "generate_events", "KNOWN_MARKERS"]

_LASER_AF = {"U": 1.5, "V": 1.0, "B": 0.8, "YG": 0.5, "R": 0.25}
_ELECTRONIC_SD = 50.0
_PHOTON = 1.5
_SPREAD = 1.2
_HEIGHT_RATIO = (0.82, 0.025)
_DEAD_MARKERS, _DEAD_FSC, _DEAD_SSC = 0.6, 0.7, 1.25
_N_LEAVES = len(LEAVES)
_CODE = {name: i for i, name in enumerate(CATEGORIES)}
_ROWS = (*LEAVES, DEBRIS, BEAD)  # rows of the per-population tables; debris and bead after the leaves

_AF = np.array([r.autofluorescence for r in _ROWS])
_FSC = np.array([r.fsc for r in _ROWS])
_SSC = np.array([r.ssc for r in _ROWS])
_FSC_SD = np.array([r.scatter_spread[0] for r in _ROWS])
_SSC_SD = np.array([r.scatter_spread[1] for r in _ROWS])

KNOWN_MARKERS: frozenset[str] = frozenset(
    {m for leaf in LEAVES for m in leaf.profile} | {"Live/Dead", "Lin"}
)


@dataclass(frozen=True)
class Composition:
    """What a tube contains: live-leukocyte concentrations and the non-leukocyte shares.

    Parameters
    ----------
    per_ul : (n_leaves,) array
        Concentration of each leaf of :data:`~.populations.LEAVES`, cells/µL.
    debris : float
        Fraction of all events that are debris.
    doublets, dead : float
        Fractions of cell events (not debris or beads) that are doublets / dead cells.
    beads_per_test : float
        Counting beads in the tube (0 for none).
    volume_ul : float
        Blood volume stained, µL (relates bead events to concentrations).
    """

    per_ul: np.ndarray
    debris: float = 0.06
    doublets: float = 0.04
    dead: float = 0.04
    beads_per_test: float = 0.0
    volume_ul: float = 50.0

    def __post_init__(self) -> None:
        per_ul = np.asarray(self.per_ul, dtype=np.float64)
        if per_ul.shape != (_N_LEAVES,) or not np.all(np.isfinite(per_ul)) or np.any(per_ul < 0):
            raise SynthError(f"concentrations must be {_N_LEAVES} finite values ≥ 0")
        if per_ul.sum() <= 0:
            raise SynthError("a sample needs at least one leukocyte population with a positive concentration")
        for name in ("debris", "doublets", "dead"):
            if not 0 <= getattr(self, name) < 0.5:
                raise SynthError(f"{name} fraction must be in [0, 0.5), got {getattr(self, name)}")
        if self.beads_per_test < 0 or self.volume_ul <= 0:
            raise SynthError("beads_per_test must be ≥ 0 and volume_ul > 0")
        object.__setattr__(self, "per_ul", per_ul)

    def probabilities(self) -> np.ndarray:
        """``(n_categories,)`` probability of each label of :data:`~.populations.CATEGORIES`."""
        live_share = 1.0 - self.doublets - self.dead
        # bead events : live leukocyte events = beads : leukocytes in the stained volume
        ratio = self.beads_per_test / (self.per_ul.sum() * self.volume_ul)
        cells = (1.0 - self.debris) / (1.0 + live_share * ratio)
        p = np.zeros(len(CATEGORIES))
        p[:_N_LEAVES] = cells * live_share * self.per_ul / self.per_ul.sum()
        p[_CODE["Dead cell"]] = cells * self.dead
        p[_CODE["Doublet"]] = cells * self.doublets
        p[_CODE["Debris"]] = self.debris
        p[_CODE["Bead"]] = cells * live_share * ratio
        return p / p.sum()


@dataclass(frozen=True)
class GeneratedEvents:
    """Arrays of one generated sample (events in acquisition order).

    Attributes
    ----------
    scatter : (n, 3) float64
        FSC-A, FSC-H, SSC-A.
    raw : (n, n_fl) float32
        Fluorescence detector values with spillover and gains applied.
    unmixed : (n, n_fl) float32
        The same before spillover: ``raw = unmixed @ spillover`` (computed in float32).
    time : (n,) float64
        Acquisition time in seconds (about 2,000 events/s).
    codes : (n,) int16
        Index into :data:`~.populations.CATEGORIES`.
    spillover : (n_fl, n_fl) float64
        The spillover of the day (nominal matrix adjusted for detector gains).
    """

    scatter: np.ndarray
    raw: np.ndarray
    unmixed: np.ndarray
    time: np.ndarray
    codes: np.ndarray
    spillover: np.ndarray


def _small_matmul(a: np.ndarray, b: np.ndarray, rows: int = 512) -> np.ndarray:
    """``a @ b`` for tall ``a`` in row blocks: small products stay single-threaded in BLAS,
    whose thread start-up and spinning otherwise cost more than the product itself."""
    out = np.empty((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))
    for first in range(0, a.shape[0], rows):
        np.matmul(a[first : first + rows], b, out=out[first : first + rows])
    return out


@functools.lru_cache(maxsize=32)
def _tables(panel: Panel) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
    """Per-row (population) tables for ``panel``: level, sigma, laser AF factor, spillover, positive columns."""
    unknown = [m for m in panel.markers if m not in KNOWN_MARKERS]
    if unknown:
        raise SynthError(f"panel {panel.name}: no expression model for marker(s) {', '.join(unknown)}")
    level = np.array([[row.level(m) for m in panel.markers] for row in _ROWS])
    sigma = np.array([[row.sigma(m) for m in panel.markers] for row in _ROWS])
    level[-1, :] = BEAD_LEVEL  # beads are bright in every detector
    sigma[-1, :] = 0.05
    af_laser = np.array([_LASER_AF[d.laser] for d in panel.detectors])
    positive = tuple(np.flatnonzero(row > 0) for row in level)
    spill = panel.spillover_matrix()
    for table in (level, sigma, af_laser, spill):
        table.setflags(write=False)  # cached: shared by every call
    return level, sigma, af_laser, spill, positive


def generate_events(
    panel: Panel, composition: Composition, n_events: int, rng: np.random.Generator, shift: Shift | None = None
) -> GeneratedEvents:
    """Draw ``n_events`` events of ``composition`` as ``panel`` records them.

    Category counts are multinomial, so replicate samples differ by counting
    noise as real ones do; the labels give the exact truth.  Events are
    generated in blocks of one population (no per-event table look-ups) and
    shuffled at the end.
    """
    if n_events < 1:
        raise SynthError(f"n_events must be ≥ 1, got {n_events}")
    shift = shift or Shift()
    gains = shift.detector_gains(panel)
    level, sigma, af_laser, nominal, positive = _tables(panel)
    level = level * shift.stain_factors(panel)[None, :]
    n_fl = len(panel.detectors)
    f32 = np.float32

    # noise SD per population and detector, from the population's median signal
    off = nominal - np.eye(n_fl)
    sd_table = np.sqrt(
        _ELECTRONIC_SD**2 + _PHOTON * (level + _AF[:, None] * af_laser[None, :]) + _SPREAD**2 * (level @ off)
    ).astype(f32)

    counts = rng.multinomial(n_events, composition.probabilities())
    leaf_p = composition.per_ul / composition.per_ul.sum()
    dead_src = rng.multinomial(counts[_CODE["Dead cell"]], leaf_p)
    dbl_src = rng.multinomial(counts[_CODE["Doublet"]], leaf_p)
    leaves = np.arange(_N_LEAVES)
    # blocks of events sharing (label, source population), in this order
    block_rows = np.concatenate([leaves, leaves, leaves, [_N_LEAVES, _N_LEAVES + 1]])
    block_codes = np.concatenate([leaves, np.full(_N_LEAVES, _CODE["Dead cell"]),
                                  np.full(_N_LEAVES, _CODE["Doublet"]), [_CODE["Debris"], _CODE["Bead"]]])  # fmt: skip
    block_n = np.concatenate([counts[:_N_LEAVES], dead_src, dbl_src, [counts[_CODE["Debris"]], counts[_CODE["Bead"]]]])
    codes = np.repeat(block_codes.astype(np.int16), block_n)
    src = np.repeat(block_rows, block_n)
    ends = np.cumsum(block_n)
    starts = ends - block_n

    signal = np.zeros((n_events, n_fl), dtype=f32)
    noise = rng.standard_normal((n_events, n_fl), dtype=f32)
    for row, a, b in zip(block_rows.tolist(), starts.tolist(), ends.tolist(), strict=True):
        if a == b:
            continue
        cols = positive[row]
        if cols.size:
            z = rng.standard_normal((b - a, cols.size), dtype=f32)
            signal[a:b, cols] = level[row, cols] * np.exp(sigma[row, cols] * z)
        noise[a:b] *= sd_table[row]

    af = (_AF[src] * np.exp(0.3 * rng.standard_normal(n_events))).astype(f32)
    fsc = _FSC[src] * np.exp(_FSC_SD[src] * rng.standard_normal(n_events))
    ssc = _SSC[src] * np.exp(_SSC_SD[src] * rng.standard_normal(n_events))
    height = fsc * rng.normal(*_HEIGHT_RATIO, size=n_events)

    dead = slice(int(starts[_N_LEAVES]), int(ends[2 * _N_LEAVES - 1]))
    signal[dead] *= _DEAD_MARKERS
    fsc[dead] *= _DEAD_FSC
    height[dead] *= _DEAD_FSC
    ssc[dead] *= _DEAD_SSC
    n_dead = dead.stop - dead.start
    for j, marker in enumerate(panel.markers):
        if marker == "Live/Dead" and n_dead:
            signal[dead, j] = DEAD_LIVE_DEAD * np.exp(0.4 * rng.standard_normal(n_dead))

    dbl = slice(int(starts[2 * _N_LEAVES]), int(ends[3 * _N_LEAVES - 1]))
    n_dbl = dbl.stop - dbl.start
    if n_dbl:  # add a second cell drawn independently of the first
        second = rng.choice(_N_LEAVES, size=n_dbl, p=leaf_p)
        z = rng.standard_normal((n_dbl, n_fl), dtype=f32)
        signal[dbl] += level[second] * np.exp(sigma[second] * z)
        af[dbl] += (_AF[second] * np.exp(0.3 * rng.standard_normal(n_dbl))).astype(f32)
        fsc2 = _FSC[second] * np.exp(_FSC_SD[second] * rng.standard_normal(n_dbl))
        ssc2 = _SSC[second] * np.exp(_SSC_SD[second] * rng.standard_normal(n_dbl))
        height2 = fsc2 * rng.normal(*_HEIGHT_RATIO, size=n_dbl)
        height[dbl] = np.maximum(height[dbl], height2) * rng.uniform(0.95, 1.1, n_dbl)
        fsc[dbl] += fsc2
        ssc[dbl] += ssc2

    unmixed = signal
    unmixed += noise
    unmixed += af[:, None] * af_laser.astype(f32)[None, :]
    # gains g: raw = (u @ S) * g = (u * g) @ (S * g[None, :] / g[:, None])
    day_spill = nominal * gains[None, :] / gains[:, None]
    np.fill_diagonal(day_spill, 1.0)
    unmixed *= gains.astype(f32)
    raw = _small_matmul(unmixed, day_spill.astype(f32))
    scatter = np.column_stack([fsc * shift.fsc, height * shift.fsc, ssc * shift.ssc])
    np.clip(scatter, 0.0, SCATTER_RANGE - 1, out=scatter)

    order = rng.permutation(n_events)
    time = np.cumsum(rng.exponential(1.0 / 2000.0, n_events))  # seconds, ~2,000 events/s
    return GeneratedEvents(
        scatter=scatter[order], raw=raw[order], unmixed=unmixed[order], time=time, codes=codes[order],
        spillover=day_spill,
    )  # fmt: skip
