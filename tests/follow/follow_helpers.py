"""Helpers of the template-following tests (a module of its own: conftest is not importable)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cytogate.fcs import Sample

TEMPLATE = Path(__file__).with_name("template.yaml")
EVENTS = 40_000


def as_sample(synthetic, path=None) -> Sample:
    return Sample.from_arrays(synthetic.events, synthetic.channels, markers=synthetic.markers,
                              spillover=synthetic.spillover, path=path)


def f1(found: np.ndarray, truth: np.ndarray) -> float:
    total = int(found.sum() + truth.sum())
    return 2.0 * int(np.sum(found & truth)) / total if total else 1.0
