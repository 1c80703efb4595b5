"""A plan compiled for a file drops the optional parts the file lacks, as the engine does."""

from __future__ import annotations

import numpy as np
import pytest

import cytogate
from cytogate.errors import MarkerError
from cytogate.fcs import Sample
from cytogate.engine.execute import brute_force_masks
from cytogate.engine.compile import compile_plan

TEXT = """cytogate_strategy: 1
compensation: none
populations:
  S: {optional: true, singlet: {area: FSC-A, height: FSC-H}}
  P: {parent: S, rectangle: {A: {min: 0.5}, B: {min: 0.5, optional: true}}}
"""


def _sample(channels):
    rng = np.random.default_rng(0)
    events = rng.uniform(0, 1, (2000, len(channels))).astype(np.float32)
    if "FSC-H" in channels:
        events[:, 0] = 1000 * (1 + events[:, 0])
        events[:, 1] = events[:, 0] * 0.8
    return Sample.from_arrays(events, channels)


def test_plan_and_oracle_drop_absent_optional_parts():
    strategy = cytogate.load_strategy(TEXT)
    sample = _sample(["FSC-A", "A"])
    plan = compile_plan(strategy, sample)
    assert plan.strategy.by_path["/S"].gate.kind == "pass_through"
    assert [d.label for d in plan.strategy.by_path["/S/P"].gate.dimensions] == ["A"]
    masks = brute_force_masks(strategy, sample)
    a = np.asarray(sample.events)[:, 1]
    assert masks["/S"].all() and np.array_equal(masks["/S/P"], a >= 0.5)
    assert np.array_equal(cytogate.gate(strategy, sample).masks["/S/P"], masks["/S/P"])


def test_plan_keeps_present_optional_parts_and_required_ones_fail():
    strategy = cytogate.load_strategy(TEXT)
    full = compile_plan(strategy, _sample(["FSC-A", "FSC-H", "A", "B"]))
    assert full.strategy is strategy
    with pytest.raises(MarkerError, match="'A' not found"):
        compile_plan(strategy, _sample(["FSC-A", "B"]))
