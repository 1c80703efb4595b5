"""One conformance test over every registered gate kind.

Each kind must: have an example here (so a new kind cannot slip in untested),
survive the YAML round trip and, where Gating-ML 2.0 can express it, the
Gating-ML round trip with identical masks; gate NaN events and empty samples
without error; and be covered, or listed as unsupported with a reason, by every
table that dispatches on the kind (YAML writer, Gating-ML writer, gate drawer).
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

import cytogate
from cytogate.fcs import Sample
from cytogate.gates.registry import GATE_KINDS, gate_from_dict
from cytogate.report import gateplot
from cytogate.strategy import gatingml_write, load_strategy, yaml_write
from cytogate.strategy.yaml_write import strategy_to_yaml

CHANNELS = ["FSC-A", "FSC-H", "SSC-A", "FL1", "FL2", "FL3"]

# kind -> the populations of a YAML strategy whose last population has that kind
EXAMPLES = {
    "rectangle": "R: {rectangle: {FL1: {min: 0.3}, FL2: [null, 0.7]}}",
    "polygon": "P: {polygon: {x: FL1, y: FL2, vertices: [[0.1, 0.1], [0.9, 0.2], [0.5, 0.9]]}}",
    "ellipsoid": "E: {ellipse: {x: FL1, y: FL2, mean: [0.5, 0.5], covariance: [[0.04, 0.01], [0.01, 0.03]], "
                 "distance_square: 2}}",
    "quadrant": "Q: {quadrant: {dividers: {FL1: 0.5, FL2: 0.5}, populations: {FL1+FL2-: A, FL1-FL2+: B}}}",
    "boolean": "R: {range: {FL1: {min: 0.5}}}\n  S: {range: {FL2: {min: 0.5}}}\n  X: {and: [R, {not: S}]}",
    "adaptive_rectangle": "V: {range: {FL1: {min: {density_valley: {bounds: [0.3, 0.7], fallback: 0.5}}}}}",
    "adaptive_quadrant": "Q: {quadrant: {dividers: {FL1: {density_valley: {bounds: [0.3, 0.7], fallback: 0.5}}, "
                         "FL2: 0.5}, populations: {FL1+FL2-: A}}}",
    "singlet": "S: {singlet: {area: FSC-A, height: FSC-H, fallback: [0.9, 1.1]}}",
    "gmm": "G: {gmm: {dimensions: [FL1, FL2], components: 2, select: highest, on: FL1, "
           "fallback: {mean: [0.75, 0.75], covariance: [[0.004, 0], [0, 0.004]]}}}",
}

HEADER = "cytogate_strategy: 1\nname: conformance\ntransform: none\nscatter_transform: none\npopulations:\n  "


def _strategy(kind: str):
    return load_strategy(HEADER + EXAMPLES[kind])


def _sample(n: int = 4000, nan_rows: int = 0) -> Sample:
    rng = np.random.default_rng(3)
    fsc = rng.uniform(5e4, 1.5e5, n)
    fl = np.r_[rng.normal(0.25, 0.06, (n // 2, 3)), rng.normal(0.75, 0.06, (n - n // 2, 3))]
    rng.shuffle(fl[:, 1])
    events = np.column_stack([fsc, fsc * rng.normal(1.0, 0.03, n), rng.uniform(0, 1e5, n), fl])
    events[:nan_rows, 3:] = np.nan
    return Sample.from_arrays(events, CHANNELS)


def _gated_kind(strategy) -> str:
    return strategy.populations[-1].gate.kind


@pytest.mark.parametrize("kind", sorted(GATE_KINDS))
def test_every_kind_has_an_example(kind):
    assert kind in EXAMPLES, f"add a YAML example of gate kind {kind!r} to this test"
    assert _gated_kind(_strategy(kind)) == kind


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_dict_and_yaml_round_trips_give_the_same_gates_and_masks(kind):
    strategy = _strategy(kind)
    for pop in strategy.populations:
        assert gate_from_dict(pop.gate.to_dict()) == pop.gate
    again = load_strategy(strategy_to_yaml(strategy))
    assert [p.path for p in again.populations] == [p.path for p in strategy.populations]
    assert [p.gate for p in again.populations] == [p.gate for p in strategy.populations]
    sample = _sample()
    first, second = cytogate.gate(strategy, sample), cytogate.gate(again, sample)
    for path in strategy.paths:
        assert np.array_equal(first.masks[path], second.masks[path]), path


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_gatingml_round_trip_or_a_named_refusal(kind):
    strategy = _strategy(kind)
    if kind in gatingml_write.UNSUPPORTED_KINDS:
        with pytest.raises(cytogate.StrategyError, match="Gating-ML"):
            gatingml_write.write_gatingml(strategy)
        return
    again = load_strategy(gatingml_write.write_gatingml(strategy))
    sample = _sample()
    first, second = cytogate.gate(strategy, sample), cytogate.gate(again, sample)
    by_name = {p.name: p.path for p in again.populations}
    for pop in strategy.populations:
        assert np.array_equal(first.masks[pop.path], second.masks[by_name[pop.name]]), pop.path


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_nan_events_and_empty_samples(kind):
    strategy = _strategy(kind)
    result = cytogate.gate(strategy, _sample(nan_rows=50))
    for pop in strategy.populations:
        mask = result.masks[pop.path]
        if pop.gate.kind != "boolean" and "FL1" in {n for d in pop.gate.dimensions for n in d.inputs}:
            assert not mask[:50].any(), f"{pop.path}: NaN events are inside no gate"
    empty = cytogate.gate(strategy, Sample.from_arrays(np.empty((0, len(CHANNELS))), CHANNELS))
    assert all(row[5] == 0 for row in empty.count_rows())


@pytest.mark.parametrize("kind", sorted(GATE_KINDS))
def test_every_dispatch_table_covers_the_kind_or_says_why_not(kind):
    tables = {
        "YAML writer": (yaml_write.GATE_WRITERS.keys() | set(yaml_write.QUADRANT_KINDS), {}),
        "Gating-ML writer": (gatingml_write.GATE_WRITERS.keys(), gatingml_write.UNSUPPORTED_KINDS),
        "gate drawer": (gateplot.GATE_DRAWERS.keys(), gateplot.NOT_DRAWN),
    }
    for table, (covered, unsupported) in tables.items():
        assert kind in covered or unsupported.get(kind), f"the {table} neither handles {kind!r} nor says why not"


def test_examples_parse_as_written():
    text = textwrap.dedent(HEADER + EXAMPLES["boolean"])
    assert [p.name for p in load_strategy(text).populations] == ["R", "S", "X"]
