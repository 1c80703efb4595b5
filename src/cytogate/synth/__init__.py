"""Synthetic flow-cytometry data with known truth, for tests, demos and benchmarks.

* :mod:`.panels` — instrument-style detectors, the markers they carry, the spillover model;
* :mod:`.populations` — the cell populations of blood (frequencies, scatter, marker
  profiles) and the truth hierarchy that gating strategies are scored against;
* :mod:`.generate` — the vectorised event generator (noise, spreading, doublets, dead cells);
* :mod:`.shift` — per-sample instrument and staining drift;
* :mod:`.sample` — :func:`synthesize_sample` and :func:`truth_membership`;
* :mod:`.trial` — :func:`synthesize_trial`, a simulated dose-ranging trial on disk.
"""

from __future__ import annotations

from ..errors import SynthError
from .panels import PANELS, Detector, Panel, get_panel
from .populations import CATEGORIES, LEAF_NAMES, TRUTH
from .sample import SyntheticSample, synthesize_sample, truth_counts, truth_membership
from .shift import Shift

__all__ = [
    "PANELS",
    "CATEGORIES",
    "LEAF_NAMES",
    "TRUTH",
    "Detector",
    "Panel",
    "Shift",
    "SynthError",
    "SyntheticSample",
    "get_panel",
    "synthesize_sample",
    "truth_counts",
    "truth_membership",
]
