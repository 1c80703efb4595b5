"""Gating-ML reading, format detection, XML safety and strategy validation."""

from __future__ import annotations

import sys
import types

import pytest

import cytogate
from cytogate.errors import StrategyError
from cytogate.gates import BooleanGate, RatioDimension
from cytogate.strategy import Strategy, load_strategy

HEAD = ('<gating:Gating-ML xmlns:gating="http://www.isac-net.org/std/Gating-ML/v2.0/gating" '
        'xmlns:transforms="http://www.isac-net.org/std/Gating-ML/v2.0/transformations" '
        'xmlns:data-type="http://www.isac-net.org/std/Gating-ML/v2.0/datatypes">')
TAIL = "</gating:Gating-ML>"


def rect(gid, channel="FSC-A", parent=None, extra="", lo="1", hi="2"):
    par = f' gating:parent_id="{parent}"' if parent else ""
    return (f'<gating:RectangleGate gating:id="{gid}"{par}><gating:dimension gating:compensation-ref='
            f'"uncompensated" gating:min="{lo}" gating:max="{hi}" {extra}><data-type:fcs-dimension '
            f'data-type:name="{channel}"/></gating:dimension></gating:RectangleGate>')


def doc(*parts):
    return HEAD + "".join(parts) + TAIL


def test_load_from_text_path_and_pathlike(tmp_path):
    text = doc(rect("A"), rect("B", parent="A"))
    f = tmp_path / "s.xml"
    f.write_text(text)
    for arg in (text, str(f), f, "\ufeff  \n" + text):
        s = load_strategy(arg)
        assert s.paths == ("/A", "/A/B")
        assert s.format == "gatingml"
    assert load_strategy(f).source == str(f)
    assert load_strategy(f).sha256 == load_strategy(text).sha256
    assert cytogate.load_strategy is load_strategy


def test_gates_nested_in_other_elements_are_found():
    s = load_strategy(doc("<sample>", rect("A"), "</sample>"))
    assert s.paths == ("/A",)


def test_ratio_dimension_and_boolean_references():
    text = doc(
        '<transforms:transformation transforms:id="R"><transforms:fratio transforms:A="2" transforms:B="1" '
        'transforms:C="-1"><data-type:fcs-dimension data-type:name="FL1"/><data-type:fcs-dimension '
        'data-type:name="FL2"/></transforms:fratio></transforms:transformation>',
        '<gating:RectangleGate gating:id="Rat"><gating:dimension gating:min="0"><data-type:new-dimension '
        'data-type:transformation-ref="R"/></gating:dimension></gating:RectangleGate>',
        rect("A", parent="Rat"),
        '<gating:BooleanGate gating:id="Both"><gating:and><gating:gateReference gating:ref="A"/>'
        '<gating:gateReference gating:ref="Rat" gating:use-as-complement="true"/></gating:and></gating:BooleanGate>',
    )
    s = load_strategy(text)
    dim = s.population("/Rat").gate.dimensions[0]
    assert dim == RatioDimension("R", "FL1", "FL2", 2.0, 1.0, -1.0)
    assert s.population("/Both").gate == BooleanGate("and", (("/Rat/A", False), ("/Rat", True)))
    assert s.evaluation_order.index("/Rat/A") < s.evaluation_order.index("/Both")


BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<gating:Gating-ML xmlns:gating="http://www.isac-net.org/std/Gating-ML/v2.0/gating">&lol3;</gating:Gating-ML>"""

EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<gating:Gating-ML xmlns:gating="http://www.isac-net.org/std/Gating-ML/v2.0/gating">&xxe;</gating:Gating-ML>"""


@pytest.mark.parametrize("text", [BOMB, EXTERNAL], ids=["entity-bomb", "external-entity"])
def test_unsafe_xml_is_refused(text):
    with pytest.raises(StrategyError, match="unsafe XML"):
        load_strategy(text)


@pytest.mark.parametrize(
    "text,match",
    [
        ("<gating:Gating-ML", "not well-formed"),
        (doc(), "no gates"),
        (doc(rect("A"), rect("A")), "defined twice"),
        (doc(rect("A", parent="Z")), "unknown parent_id"),
        (doc(rect("A", parent="B"), rect("B", parent="A")), "loops"),
        (doc(rect("A", extra='gating:transformation-ref="nope"')), "unknown transformation"),
        (doc(rect("A", lo="3", hi="2")), "not below"),
        (doc(rect("A", lo="x")), "not a number"),
        (doc('<gating:BooleanGate gating:id="B"><gating:or><gating:gateReference gating:ref="Q"/>'
             '<gating:gateReference gating:ref="Q2"/></gating:or></gating:BooleanGate>'), "unknown gate 'Q'"),
        (doc('<gating:RectangleGate gating:id="A"><gating:dimension gating:compensation-ref="M" gating:min="1">'
             '<data-type:fcs-dimension data-type:name="X"/></gating:dimension></gating:RectangleGate>'),
         "unknown spectrum matrix"),
    ],
)
def test_invalid_documents_raise_strategy_error(text, match):
    with pytest.raises(StrategyError, match=match):
        load_strategy(text)


def test_errors_name_the_file(tmp_path):
    f = tmp_path / "bad.xml"
    f.write_text(doc(rect("A", parent="Z")))
    with pytest.raises(StrategyError, match="bad.xml"):
        load_strategy(f)


def test_yaml_without_yaml_module(monkeypatch):
    monkeypatch.setitem(sys.modules, "cytogate.strategy.yaml_format", None)
    with pytest.raises(StrategyError, match="YAML strategies not supported yet"):
        load_strategy("cytogate_strategy: 1\npopulations: {}\n")


def test_yaml_is_delegated_to_yaml_module(monkeypatch, tmp_path):
    seen = {}
    expected = load_strategy(doc(rect("A")))

    def load_yaml_strategy(text, source=None):
        seen.update(text=text, source=source)
        return expected

    fake = types.ModuleType("cytogate.strategy.yaml_format")
    fake.load_yaml_strategy = load_yaml_strategy
    monkeypatch.setitem(sys.modules, "cytogate.strategy.yaml_format", fake)
    f = tmp_path / "s.yaml"
    f.write_text("cytogate_strategy: 1\n")
    assert load_strategy(f) is expected
    assert seen == {"text": "cytogate_strategy: 1\n", "source": str(f)}


def test_strategy_dict_round_trip_and_hash():
    s = load_strategy(doc(rect("A"), rect("B", parent="A")))
    again = Strategy.from_dict(s.to_dict())
    assert again.to_dict() == s.to_dict()
    assert again.sha256 == Strategy.from_dict(s.to_dict()).sha256
    assert s.children("/A")[0].path == "/A/B"
    with pytest.raises(StrategyError, match="no population"):
        s.population("/Z")


def test_a_missing_path_is_reported_as_such(tmp_path):
    with pytest.raises(StrategyError, match="strategy file not found"):
        load_strategy(str(tmp_path / "missing.xml"))
