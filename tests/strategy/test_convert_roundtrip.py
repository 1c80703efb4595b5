"""Gating-ML -> YAML -> run gives the Gating-ML counts, event for event; YAML <-> Gating-ML round trips."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from conftest import CORPUS, corpus_path

import cytogate
from cytogate.errors import StrategyError
from cytogate.strategy import load_strategy
from cytogate.strategy.gatingml_write import write_gatingml
from cytogate.strategy.yaml_format import load_yaml_strategy
from cytogate.strategy.yaml_write import strategy_to_document, strategy_to_yaml

GML = "whitews+FlowKit/data/gate_ref/gml"
STRATEGIES = Path(__file__).resolve().parents[2] / "gating_strategies"


def _key(gate):
    """Gate identity; quadrants compare by group, dividers and the box they cut (positions are any point inside)."""
    if gate.kind == "quadrant":
        lo, hi = gate.box()
        return ("quadrant", gate.group, gate.dividers, gate.dimensions, lo.tolist(), hi.tolist())
    return gate


def _same(a, b) -> bool:
    return [_key(p.gate) for p in a.populations] == [_key(p.gate) for p in b.populations]


def _gml_files() -> list:
    folder = CORPUS / GML
    if not folder.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"corpus folder {GML} not found"))]
    return sorted(p.name for p in folder.glob("*.xml"))


@pytest.fixture(scope="module")
def data1():
    return cytogate.read_fcs(corpus_path("whitews+FlowKit/data/gate_ref/data1.fcs"))


@pytest.fixture(scope="module")
def truth_counts():
    with open(corpus_path("truth/gatingml2_compliance_data1_counts.csv"), newline="") as handle:
        return {r["gate_id"]: int(r["events_in_gate"]) for r in csv.DictReader(handle)}


@pytest.mark.corpus
@pytest.mark.parametrize("name", _gml_files())
def test_gatingml_to_yaml_gives_identical_counts(name, data1, truth_counts):
    original = load_strategy(corpus_path(f"{GML}/{name}"))
    text = strategy_to_yaml(original)
    converted = load_yaml_strategy(text, source=f"{name}.yaml")
    assert converted.paths == original.paths
    a, b = cytogate.gate(original, data1), cytogate.gate(converted, data1)
    for path in original.paths:
        assert np.array_equal(a.masks[path], b.masks[path]), path
        gate_id = path.rsplit("/", 1)[-1]
        if gate_id in truth_counts:
            assert b.count(path) == truth_counts[gate_id], path
    # and back to Gating-ML: same gates again
    again = load_strategy(write_gatingml(converted))
    assert _same(again, original)


@pytest.mark.corpus
def test_yaml_is_readable(data1):
    doc = strategy_to_document(load_strategy(corpus_path(f"{GML}/gml_all_gates.xml")))
    assert doc["cytogate_strategy"] == 1 and doc["compensation"] == "none"
    assert doc["populations"]["Range1"] == {"range": {"FSC-H": {"min": 100}}}
    quadrant = next(v for v in doc["populations"].values() if "quadrant" in v)["quadrant"]
    assert set(quadrant) == {"dividers", "populations"}


def test_static_ready_made_parts_convert_and_data_driven_are_refused(tmp_path):
    strategy = load_strategy(STRATEGIES / "lupus_pd.yaml")
    with pytest.raises(StrategyError, match="data-driven"):
        write_gatingml(strategy)
    # YAML -> YAML keeps every gate, data-driven ones included
    again = load_yaml_strategy(strategy_to_yaml(strategy))
    assert _same(again, strategy)
    assert again.aliases == strategy.aliases


def test_duplicate_names_get_unique_keys():
    text = """\
cytogate_strategy: 1
populations:
  a: {name: X, range: {FL1: {min: 1}}}
  b: {parent: a, name: X, range: {FL1: {min: 2}}}
  q: {parent: a, quadrant: {dividers: {FL1: 3, FL2: 4}}}
  c: {parent: b, and: [a, b]}
"""
    strategy = load_yaml_strategy(text)
    again = load_yaml_strategy(strategy_to_yaml(strategy))
    assert again.paths == strategy.paths
    assert _same(again, strategy)
