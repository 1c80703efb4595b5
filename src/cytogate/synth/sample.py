"""One synthetic sample with per-event truth: :func:`synthesize_sample`.

>>> from cytogate.synth import synthesize_sample, truth_membership
>>> s = synthesize_sample("lupus_pd", n_events=20_000, seed=1)
>>> s.events.shape, s.events.dtype          # raw: spillover applied, not compensated
((20000, 18), dtype('float32'))
>>> mask = truth_membership(s)["pDC"]       # which events are truly pDCs
>>> s.write("sample.fcs")                    # FCS 3.1 with $PnS markers and $SPILLOVER

``frequencies`` multiplies the blood concentration of named populations
(``{"B cells": 0.42, "Tregs": 2.0}``); ``shift`` drifts the instrument and the
staining (:class:`~cytogate.synth.shift.Shift`); the truth labels do not move,
so a gating strategy can be scored on shifted samples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike

import numpy as np
import pandas as pd

from .._version import __version__
from ..compensation.matrix import Spillover
from .generate import Composition, generate_events
from ..errors import SynthError
from .panels import SCATTER_CHANNELS, SCATTER_RANGE, Panel, get_panel
from .populations import CATEGORIES, TRUTH, baseline_concentrations
from .shift import Shift

__all__ = ["SyntheticSample", "synthesize_sample", "truth_membership", "truth_counts"]

_ALWAYS = ("Debris", "Cells", "Singlets", "Live")


@dataclass(frozen=True, eq=False)
class SyntheticSample:
    """A generated sample: raw events, their channels, spillover and truth.

    Attributes
    ----------
    panel : Panel
        The panel the sample was stained with.
    events : (n_events, n_channels) float32
        Raw (uncompensated) values in ``channels`` order: FSC-A, FSC-H, SSC-A,
        the fluorescence detectors, Time.
    channels : tuple of str
        ``$PnN`` per column.
    markers : tuple of str
        ``$PnS`` per column (``""`` for scatter and Time).
    spillover : Spillover
        The matrix that was applied; compensating with it recovers :attr:`unmixed`.
    codes : (n_events,) int16
        Truth label of each event as an index into :data:`~cytogate.synth.populations.CATEGORIES`.
    unmixed : (n_events, n_fluorescence) float32
        Fluorescence before spillover (what perfect compensation gives).
    composition : Composition
        Concentrations and event shares the sample was drawn from.
    shift : Shift
        The drift applied.
    seed : int or None
        The seed that reproduces the sample.
    name : str
        Sample name written to ``$SRC`` / ``$FIL``.
    """

    panel: Panel
    events: np.ndarray
    channels: tuple[str, ...]
    markers: tuple[str, ...]
    spillover: Spillover
    codes: np.ndarray
    unmixed: np.ndarray
    composition: Composition
    shift: Shift
    seed: int | None
    name: str = "synthetic"
    extra_keywords: Mapping[str, str] = field(default_factory=dict)

    @property
    def n_events(self) -> int:
        return int(self.events.shape[0])

    @property
    def labels(self) -> pd.Categorical:
        """Truth label (leaf population or ``Dead cell`` / ``Doublet`` / ``Debris`` / ``Bead``) per event."""
        return pd.Categorical.from_codes(self.codes, categories=list(CATEGORIES))

    @property
    def truth_populations(self) -> tuple[str, ...]:
        """Truth populations this sample's panel resolves, in hierarchy order."""
        wanted = set(self.panel.truth) | set(_ALWAYS)
        if self.composition.beads_per_test > 0:
            wanted.add("Beads")
        return tuple(name for name in TRUTH if name in wanted)

    def truth_paths(self) -> dict[str, str]:
        """``{name: "/Cells/Singlets/..."}`` for :attr:`truth_populations`."""
        return {name: TRUTH[name].path for name in self.truth_populations}

    def membership(self, population: str) -> np.ndarray:
        """``(n_events,)`` bool: events truly in ``population`` (any truth population name)."""
        if population not in TRUTH:
            raise SynthError(f"unknown truth population {population!r}; known: {', '.join(TRUTH)}")
        lut = np.array([c in TRUTH[population].labels for c in CATEGORIES])
        return lut[self.codes]

    def expected_fractions(self) -> dict[str, float]:
        """Probability of each label under the sample's composition (before counting noise)."""
        return dict(zip(CATEGORIES, self.composition.probabilities().tolist(), strict=True))

    def channel(self, name: str) -> np.ndarray:
        """``(n_events,)`` float32 column by ``$PnN`` or ``$PnS``."""
        for i, (ch, mk) in enumerate(zip(self.channels, self.markers, strict=True)):
            if name in (ch, mk):
                return self.events[:, i]
        raise SynthError(f"sample has no channel or marker {name!r}; channels: {', '.join(self.channels)}")

    def compensated(self) -> np.ndarray:
        """``(n_events, n_fluorescence)`` float64 fluorescence compensated with :attr:`spillover`."""
        idx = [self.channels.index(c) for c in self.spillover.channels]
        return self.events[:, idx].astype(np.float64) @ self.spillover.inverse

    def keywords(self) -> dict[str, str]:
        """FCS keywords describing the sample (beyond channels, markers and spillover)."""
        kw = {
            "$CYT": "cytogate synthetic cytometer",
            "$SRC": self.name,
            "$FIL": f"{self.name}.fcs",
            "CYTOGATE_SYNTH_PANEL": self.panel.name,
            "CYTOGATE_SYNTH_SHIFT": self.shift.describe(),
            "CYTOGATE_SYNTH_VERSION": __version__,
        }
        if self.seed is not None:
            kw["CYTOGATE_SYNTH_SEED"] = str(self.seed)
        if self.composition.beads_per_test > 0:
            kw["CYTOGATE_BEADS_PER_TEST"] = f"{self.composition.beads_per_test:g}"
            kw["CYTOGATE_VOLUME_UL"] = f"{self.composition.volume_ul:g}"
        kw.update(self.extra_keywords)
        return kw

    def write(self, path: str | PathLike[str], *, keywords: Mapping[str, str] | None = None) -> None:
        """Write the sample as FCS 3.1 (float32) with markers, spillover and keywords."""
        from ..fcs import write_fcs  # the FCS writer lives with the reader

        kw = {**self.keywords(), **{f"$P{i + 1}R": str(SCATTER_RANGE) for i in range(len(self.channels) - 1)}}
        kw.update(keywords or {})
        write_fcs(path, self.events, list(self.channels), markers=list(self.markers), keywords=kw,
                  spillover=self.spillover)  # fmt: skip


def _seed_int(seed: int | np.random.SeedSequence | None) -> int | None:
    if seed is None or isinstance(seed, int):
        return seed
    return int(seed.generate_state(1)[0])


def synthesize_sample(
    panel: str | Panel = "lupus_pd",
    n_events: int = 50_000,
    seed: int | np.random.SeedSequence | None = None,
    shift: Shift | str | None = None,
    frequencies: Mapping[str, float] | None = None,
    *,
    beads_per_test: float = 0.0,
    volume_ul: float = 50.0,
    debris: float = 0.06,
    doublets: float = 0.04,
    dead: float = 0.04,
    name: str = "synthetic",
    keywords: Mapping[str, str] | None = None,
    drop: Sequence[str] = (),
) -> SyntheticSample:
    """Generate one stained, acquired blood sample with known truth.

    Parameters
    ----------
    panel : str or Panel
        A key of :data:`~cytogate.synth.panels.PANELS` (``"lupus_pd"``, ``"b_cell"``,
        ``"t_cell"``, ``"dc"``, ``"nk_mono"``) or a custom :class:`Panel`.
    n_events : int
        Events in the file (all kinds: cells, debris, doublets, dead, beads).
    seed : int or SeedSequence, optional
        Same seed, same sample (bit for bit).
    shift : Shift or str, optional
        Instrument / staining drift; a string is parsed by :meth:`Shift.parse`
        (``"random"``, ``"fsc=1.15,CD25=0.6"``).
    frequencies : mapping of str to float, optional
        Multipliers of the baseline concentration of named truth populations
        or leaves (``{"B cells": 0.42, "pDC": 0.26, "Tregs": 2.05}``).
    beads_per_test, volume_ul : float
        Counting beads in the tube and blood volume stained; beads appear as
        ``Bead`` events in the ratio beads : leukocytes of the tube.
    debris, doublets, dead : float
        Share of debris among all events, of doublets and dead cells among cell events.
    name : str
        Sample name (``$SRC``).
    keywords : mapping, optional
        Extra FCS keywords stored with the sample.
    drop : sequence of str
        Channels the tube does not have: a scatter channel (``"FSC-H"``) is not
        recorded; a marker (``"CD303"``) or its detector is not stained, so it
        neither appears nor spills.  The truth labels do not change, so a
        strategy can be scored on a panel that lacks a channel.

    Returns
    -------
    SyntheticSample
    """
    spec, no_scatter = _without(get_panel(panel), drop)
    seed_value = _seed_int(seed)
    rng = np.random.default_rng(seed)
    if isinstance(shift, str):
        shift = Shift.parse(shift, spec, seed=None if seed_value is None else seed_value + 1)
    shift = shift or Shift()
    composition = Composition(
        baseline_concentrations(frequencies), debris=debris, doublets=doublets, dead=dead,
        beads_per_test=beads_per_test, volume_ul=volume_ul,
    )  # fmt: skip
    gen = generate_events(spec, composition, int(n_events), rng, shift)
    events = np.column_stack([gen.scatter, gen.raw, gen.time]).astype(np.float32)
    keep = [i for i, c in enumerate(spec.channels) if c not in no_scatter]
    extra = dict(keywords or {})
    if drop:
        extra.setdefault("CYTOGATE_SYNTH_DROP", ",".join(drop))
    return SyntheticSample(
        panel=spec,
        events=np.ascontiguousarray(events[:, keep]),
        channels=tuple(spec.channels[i] for i in keep),
        markers=tuple(spec.channel_markers[i] for i in keep),
        spillover=Spillover(gen.spillover, spec.fluorescence_channels, source=f"cytogate.synth:{spec.name}"),
        codes=gen.codes,
        unmixed=gen.unmixed,
        composition=composition,
        shift=shift,
        seed=seed_value,
        name=name,
        extra_keywords=extra,
    )


def _without(spec: Panel, drop: Sequence[str]) -> tuple[Panel, tuple[str, ...]]:
    """``spec`` without the detectors ``drop`` names (by marker or ``$PnN``), and the scatter channels it names."""
    if isinstance(drop, str):
        raise SynthError(f"drop must be a sequence of channel names, got the string {drop!r}")
    names = set(drop)
    scatter = tuple(c for c in SCATTER_CHANNELS if c in names)
    if "FSC-A" in scatter or "SSC-A" in scatter:
        raise SynthError("FSC-A and SSC-A cannot be dropped: every cytometer records them")
    detectors = tuple(d for d in spec.detectors if d.marker not in names and d.name not in names)
    known = set(SCATTER_CHANNELS) | {d.marker for d in spec.detectors} | {d.name for d in spec.detectors}
    unknown = sorted(names - known)
    if unknown:
        raise SynthError(f"drop: panel {spec.name} has no channel or marker {', '.join(unknown)}; "
                         f"it has {', '.join(spec.channels[:-1])} and markers {', '.join(spec.markers)}")
    if len(detectors) == len(spec.detectors):
        return spec, scatter
    return Panel(spec.name, spec.title, detectors, spec.truth), scatter


def truth_membership(sample: SyntheticSample, *, by: str = "name") -> dict[str, np.ndarray]:
    """``{population: (n_events,) bool}`` for every truth population the sample's panel resolves.

    Parameters
    ----------
    sample : SyntheticSample
    by : {"name", "path"}
        Key by population name (``"CD268+ B"``) or by gating path
        (``"/Cells/Singlets/Live/Lymphocytes/B cells/CD268+ B"``).

    Keys are the names of :data:`~cytogate.synth.populations.TRUTH` (``"T cells"``,
    ``"CD268+ B"``, ``"pDC"`` …); see that module for what each means in cell terms.
    """
    if by not in ("name", "path"):
        raise SynthError(f"by must be 'name' or 'path', got {by!r}")
    return {
        (name if by == "name" else TRUTH[name].path): sample.membership(name) for name in sample.truth_populations
    }


def truth_counts(sample: SyntheticSample) -> dict[str, int]:
    """``{population: true event count}`` for :func:`truth_membership`'s populations."""
    counts = np.bincount(sample.codes, minlength=len(CATEGORIES))
    out = {}
    for name in sample.truth_populations:
        labels = TRUTH[name].labels
        out[name] = int(sum(counts[i] for i, c in enumerate(CATEGORIES) if c in labels))
    return out

