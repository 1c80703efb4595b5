"""Instrument and staining panels of the synthetic cytometer.

A :class:`Panel` is what the FCS file of a stained tube shows: scatter
channels, a ``Time`` channel, and fluorescence detectors named the way BD
FACSDiva names them on a five-laser instrument (``U450-A``, ``V450-A``,
``B530-A``, ``YG586-A``, ``R670-A`` …: laser initial, band-pass centre, ``-A``
for area), each carrying one fluorochrome-conjugated antibody whose target is
the marker written to ``$PnS`` (``CD3``, ``CD268`` …).

The spillover matrix is not typed in by hand: it is derived from a small
spectral model of each fluorochrome (relative excitation by each laser, an
emission peak with a longer red tail), so every panel built from these parts
gets a consistent, instrument-like matrix with real structure (PE into
PE-CF594 ≈ 0.4, BV605 into BV650 ≈ 0.15, APC into Alexa Fluor 700 ≈ 0.2, cross-laser
excitation of tandems …). Rows are the fluorochrome's primary detector,
columns the detector receiving the spill, as in ``$SPILLOVER``.

Ready-made panels (``PANELS``; markers by detector):

``lupus_pd``
    The pharmacodynamic panel of a lupus trial (B cells, CD268+ B cells,
    pDCs, T-cell subsets, Tregs): Live/Dead, CD45, CD3, CD4, CD8, CD45RA,
    CCR7, CD25, CD127, CD19, CD268, HLA-DR, CD123, CD303.
``b_cell``
    B-cell subsets: Live/Dead, CD45, CD3, CD19, CD20, CD27, IgD, CD24, CD38, CD268.
``t_cell``
    T-cell subsets and Tregs: Live/Dead, CD45, CD3, CD4, CD8, CD45RA, CCR7,
    CD25, CD127, CD27.
``dc``
    Dendritic cells: Live/Dead, CD45, Lin (a lineage cocktail in one
    colour: CD3, CD14, CD16, CD19, CD20, CD56), HLA-DR, CD123, CD303, CD11c.
``nk_mono``
    NK cells and monocyte subsets: Live/Dead, CD45, CD3, CD19, CD56, CD16,
    CD14, HLA-DR.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..errors import SynthError
from ..compensation.matrix import Spillover

__all__ = [
    "SynthError",
    "Fluorochrome",
    "Detector",
    "Panel",
    "FLUOROCHROMES",
    "PANELS",
    "get_panel",
    "SCATTER_CHANNELS",
    "SCATTER_RANGE",
]


#: Scatter channels every panel carries, in file order.
SCATTER_CHANNELS: tuple[str, ...] = ("FSC-A", "FSC-H", "SSC-A")
#: ``$PnR`` of every channel (an 18-bit digital instrument).
SCATTER_RANGE = 262144

# Laser wavelengths (nm) by the initial used in detector names.
_LASERS = {"U": 355, "V": 405, "B": 488, "YG": 561, "R": 640}


@dataclass(frozen=True)
class Fluorochrome:
    """Spectral model of one fluorochrome.

    Parameters
    ----------
    name : str
        Commercial name (``"PE-Cy7"``).
    excitation : mapping of laser initial to float
        Relative excitation by each laser (1 for the primary laser).
    peak : float
        Emission maximum, nm.
    width : float
        Standard deviation of the blue side of the emission peak, nm.
    red_tail : float
        The red side's standard deviation is ``width * red_tail``.
    """

    name: str
    excitation: Mapping[str, float]
    peak: float
    width: float
    red_tail: float = 1.7

    def __post_init__(self) -> None:
        unknown = set(self.excitation) - set(_LASERS)
        if unknown:
            raise SynthError(f"fluorochrome {self.name}: unknown laser(s) {sorted(unknown)}")
        if self.width <= 0 or self.red_tail <= 0:
            raise SynthError(f"fluorochrome {self.name}: emission width must be positive")

    def emission(self, wavelength: float) -> float:
        """Relative emission (1 at the peak) at ``wavelength`` nm."""
        sd = self.width if wavelength <= self.peak else self.width * self.red_tail
        return float(np.exp(-0.5 * ((wavelength - self.peak) / sd) ** 2))

    def response(self, laser: str, centre: float) -> float:
        """Signal in a detector on ``laser`` with a band-pass centred at ``centre`` nm."""
        return float(self.excitation.get(laser, 0.0)) * self.emission(centre)


FLUOROCHROMES: dict[str, Fluorochrome] = {
    f.name: f
    for f in (
        Fluorochrome("LIVE/DEAD Blue", {"U": 1.0, "V": 0.08}, 450, 22, 2.0),
        Fluorochrome("BV421", {"V": 1.0, "U": 0.25}, 421, 15, 2.4),
        Fluorochrome("BV510", {"V": 1.0, "U": 0.15}, 510, 22, 1.8),
        Fluorochrome("BV605", {"V": 1.0, "U": 0.2, "YG": 0.04}, 603, 15, 2.1),
        Fluorochrome("BV650", {"V": 1.0, "R": 0.06, "U": 0.1}, 650, 15, 2.0),
        Fluorochrome("BV711", {"V": 1.0, "R": 0.12, "U": 0.1}, 711, 17, 1.9),
        Fluorochrome("BV786", {"V": 1.0, "R": 0.08}, 786, 20, 1.5),
        Fluorochrome("FITC", {"B": 1.0, "V": 0.05}, 520, 14, 2.2),
        Fluorochrome("PerCP-Cy5.5", {"B": 1.0, "V": 0.1, "YG": 0.12}, 695, 22, 1.5),
        Fluorochrome("PE", {"YG": 1.0, "B": 0.35}, 578, 13, 2.2),
        Fluorochrome("PE-CF594", {"YG": 1.0, "B": 0.3}, 612, 15, 2.0),
        Fluorochrome("PE-Cy7", {"YG": 1.0, "B": 0.3, "R": 0.03}, 780, 22, 1.5),
        Fluorochrome("APC", {"R": 1.0, "YG": 0.15}, 660, 12, 3.2),
        Fluorochrome("Alexa Fluor 700", {"R": 0.8, "YG": 0.05}, 719, 16, 1.8),
        Fluorochrome("APC-Cy7", {"R": 1.0, "YG": 0.06}, 785, 20, 1.5),
    )
}


@dataclass(frozen=True)
class Detector:
    """One fluorescence detector and the stain it carries.

    Parameters
    ----------
    name : str
        ``$PnN``: laser initial, band-pass centre, ``-A`` (``"YG586-A"``).
    marker : str
        ``$PnS``: the antibody target (``"CD268"``) or ``"Live/Dead"``.
    fluorochrome : str
        Key of :data:`FLUOROCHROMES`.
    """

    name: str
    marker: str
    fluorochrome: str

    def __post_init__(self) -> None:
        if self.fluorochrome not in FLUOROCHROMES:
            raise SynthError(f"detector {self.name}: unknown fluorochrome {self.fluorochrome!r}")
        self.laser  # validates the name  # noqa: B018

    @property
    def laser(self) -> str:
        prefix = self.name.split("-")[0].rstrip("0123456789")
        if prefix not in _LASERS:
            raise SynthError(f"detector {self.name}: name must start with one of {sorted(_LASERS)}")
        return prefix

    @property
    def centre(self) -> float:
        return float(self.name.split("-")[0][len(self.laser) :])


@dataclass(frozen=True)
class Panel:
    """A stained tube as the cytometer records it.

    Parameters
    ----------
    name : str
        Registry key (``"lupus_pd"``).
    title : str
        One-line description written to ``$FIL``-adjacent keywords and help.
    detectors : tuple of Detector
        Fluorescence detectors in file order (after the scatter channels).
    truth : tuple of str
        Names of the truth populations this panel can resolve
        (see :mod:`cytogate.synth.populations`).
    """

    name: str
    title: str
    detectors: tuple[Detector, ...]
    truth: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        names = [d.name for d in self.detectors]
        markers = [d.marker for d in self.detectors]
        for what, values in (("detector", names), ("marker", markers)):
            dupes = sorted({v for v in values if values.count(v) > 1})
            if dupes:
                raise SynthError(f"panel {self.name}: {what} used twice: {', '.join(dupes)}")

    @property
    def fluorescence_channels(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.detectors)

    @property
    def markers(self) -> tuple[str, ...]:
        """Fluorescence markers in detector order."""
        return tuple(d.marker for d in self.detectors)

    @property
    def channels(self) -> tuple[str, ...]:
        """All ``$PnN`` in file order: scatter, fluorescence, ``Time``."""
        return (*SCATTER_CHANNELS, *self.fluorescence_channels, "Time")

    @property
    def channel_markers(self) -> tuple[str, ...]:
        """``$PnS`` per channel (empty for scatter and Time)."""
        return ("",) * len(SCATTER_CHANNELS) + self.markers + ("",)

    def detector_for(self, marker: str) -> str:
        """The detector carrying ``marker``; raises SynthError listing the panel's markers."""
        for d in self.detectors:
            if d.marker == marker:
                return d.name
        raise SynthError(f"panel {self.name} has no marker {marker!r}; it has {', '.join(self.markers)}")

    def spillover_matrix(self) -> np.ndarray:
        """``(n_fl, n_fl)`` spillover of the fluorescence detectors, rows = source fluorochrome.

        Entries below 0.002 are set to 0 and the rest rounded to 4 decimals,
        as instrument software reports them; the diagonal is exactly 1.
        """
        n = len(self.detectors)
        matrix = np.eye(n)
        for i, src in enumerate(self.detectors):
            fluor = FLUOROCHROMES[src.fluorochrome]
            primary = fluor.response(src.laser, src.centre)
            if primary <= 0:
                raise SynthError(f"panel {self.name}: {src.fluorochrome} gives no signal in {src.name}")
            for j, dst in enumerate(self.detectors):
                if i != j:
                    value = fluor.response(dst.laser, dst.centre) / primary
                    matrix[i, j] = round(value, 4) if value >= 0.002 else 0.0
        return matrix

    def spillover(self) -> Spillover:
        """The nominal :class:`~cytogate.spillover.Spillover` of this panel."""
        return Spillover(self.spillover_matrix(), self.fluorescence_channels, source=f"cytogate.synth:{self.name}")


def _panel(name: str, title: str, rows: list[tuple[str, str, str]], truth: tuple[str, ...]) -> Panel:
    return Panel(name, title, tuple(Detector(*row) for row in rows), truth)


_GATE_BASE = ("Debris", "Cells", "Singlets", "Live", "Leukocytes", "Lymphocytes", "Monocytes", "Granulocytes")
_T = ("T cells", "CD4 T", "CD8 T", "CD4 Naive", "CD4 CM", "CD4 EM", "CD4 TEMRA",
      "CD8 Naive", "CD8 CM", "CD8 EM", "CD8 TEMRA", "Tregs")  # fmt: skip
_B = ("B cells", "CD268+ B", "Naive B", "Transitional B", "Memory B", "Switched memory B",
      "Unswitched memory B", "Plasmablasts")  # fmt: skip

PANELS: dict[str, Panel] = {
    p.name: p
    for p in (
        _panel(
            "lupus_pd",
            "Lupus pharmacodynamics: B, CD268+ B, pDC, T subsets, Tregs",
            [
                ("U450-A", "Live/Dead", "LIVE/DEAD Blue"),
                ("V450-A", "CCR7", "BV421"),
                ("V510-A", "CD45", "BV510"),
                ("V610-A", "CD4", "BV605"),
                ("V660-A", "CD303", "BV650"),
                ("V710-A", "CD8", "BV711"),
                ("V780-A", "CD127", "BV786"),
                ("B530-A", "CD45RA", "FITC"),
                ("B710-A", "CD3", "PerCP-Cy5.5"),
                ("YG586-A", "CD268", "PE"),
                ("YG610-A", "CD25", "PE-CF594"),
                ("YG780-A", "CD123", "PE-Cy7"),
                ("R670-A", "CD19", "APC"),
                ("R730-A", "HLA-DR", "Alexa Fluor 700"),
            ],
            (*_GATE_BASE, *_T, "B cells", "CD268+ B", "pDC"),
        ),
        _panel(
            "b_cell",
            "B-cell subsets: naive, memory, transitional, plasmablasts, CD268 (BAFF-R)",
            [
                ("U450-A", "Live/Dead", "LIVE/DEAD Blue"),
                ("V450-A", "IgD", "BV421"),
                ("V510-A", "CD45", "BV510"),
                ("V610-A", "CD27", "BV605"),
                ("B530-A", "CD20", "FITC"),
                ("B710-A", "CD3", "PerCP-Cy5.5"),
                ("YG586-A", "CD268", "PE"),
                ("YG610-A", "CD24", "PE-CF594"),
                ("YG780-A", "CD38", "PE-Cy7"),
                ("R670-A", "CD19", "APC"),
            ],
            (*_GATE_BASE, "T cells", *_B),
        ),
        _panel(
            "t_cell",
            "T-cell subsets: CD4, CD8, naive / CM / EM / TEMRA, Tregs",
            [
                ("U450-A", "Live/Dead", "LIVE/DEAD Blue"),
                ("V450-A", "CCR7", "BV421"),
                ("V510-A", "CD45", "BV510"),
                ("V610-A", "CD4", "BV605"),
                ("V710-A", "CD8", "BV711"),
                ("V780-A", "CD127", "BV786"),
                ("B530-A", "CD45RA", "FITC"),
                ("B710-A", "CD3", "PerCP-Cy5.5"),
                ("YG586-A", "CD25", "PE"),
                ("R670-A", "CD27", "APC"),
            ],
            (*_GATE_BASE, *_T),
        ),
        _panel(
            "dc",
            "Dendritic cells: pDC (Lin- HLA-DR+ CD123+ CD303+) and mDC (Lin- HLA-DR+ CD11c+)",
            [
                ("U450-A", "Live/Dead", "LIVE/DEAD Blue"),
                ("V450-A", "CD11c", "BV421"),
                ("V510-A", "CD45", "BV510"),
                ("V660-A", "CD303", "BV650"),
                ("B530-A", "Lin", "FITC"),
                ("YG780-A", "CD123", "PE-Cy7"),
                ("R730-A", "HLA-DR", "Alexa Fluor 700"),
            ],
            (*_GATE_BASE, "pDC", "mDC", "Basophils"),
        ),
        _panel(
            "nk_mono",
            "NK cells (CD56 bright / dim) and monocytes (classical / intermediate / non-classical)",
            [
                ("U450-A", "Live/Dead", "LIVE/DEAD Blue"),
                ("V450-A", "CD56", "BV421"),
                ("V510-A", "CD45", "BV510"),
                ("V610-A", "CD16", "BV605"),
                ("B710-A", "CD3", "PerCP-Cy5.5"),
                ("YG780-A", "CD19", "PE-Cy7"),
                ("R670-A", "CD14", "APC"),
                ("R730-A", "HLA-DR", "Alexa Fluor 700"),
            ],
            (*_GATE_BASE, "T cells", "B cells", "NK", "CD56bright NK", "CD56dim NK",
             "Classical monocytes", "Intermediate monocytes", "Non-classical monocytes", "Neutrophils",
             "Eosinophils"),  # fmt: skip
        ),
    )
}


def get_panel(panel: str | Panel) -> Panel:
    """Look a panel up by name (or pass a :class:`Panel` through)."""
    if isinstance(panel, Panel):
        return panel
    try:
        return PANELS[panel]
    except KeyError:
        raise SynthError(f"unknown panel {panel!r}; available: {', '.join(PANELS)}") from None
