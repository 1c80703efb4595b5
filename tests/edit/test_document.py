"""Round-trip editing of the YAML text: only the edited values change, every other line is kept."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
from edit_helpers import EDIT_STRATEGY, ROOT

from cytogate.edit.document import NEW_STRATEGY, StrategyDocument, merge_lines
from cytogate.strategy.yaml_format import load_yaml_strategy


def changed_lines(before: str, after: str) -> list[str]:
    return [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_equal_values_keep_their_spelling():
    doc = StrategyDocument(EDIT_STRATEGY, source="t.yaml")
    gate = doc.gate("Cells")
    gate["polygon"]["vertices"][0] = [20000.0, 2000]  # same numbers, other types
    doc.set_gate("Cells", gate)
    assert doc.text() == EDIT_STRATEGY


def test_changed_threshold_touches_one_line_and_keeps_its_comment():
    doc = StrategyDocument(EDIT_STRATEGY, source="t.yaml")
    doc.set_gate("Leukocytes", {"range": {"CD45": {"min": 0.42}}})
    assert changed_lines(EDIT_STRATEGY, doc.text()) == [
        "-    range: {CD45: {min: 0.4}}      # CD45+ (static)",
        "+    range: {CD45: {min: 0.42}}     # CD45+ (static)",  # the comment stays in its column
    ]


def test_moved_vertex_and_rule_bounds():
    doc = StrategyDocument(EDIT_STRATEGY, source="t.yaml")
    gate = doc.gate("Cells")
    gate["polygon"]["vertices"][2] = [190000, 210000]
    doc.set_gate("Cells", gate)
    doc.set_gate("T cells", {"range": {"CD3": {"min": {"density_valley": {"bounds": [0.3, 0.58],
                                                                          "fallback": 0.45}}}}})
    diff = changed_lines(EDIT_STRATEGY, doc.text())
    assert len(diff) == 4
    assert "[190000, 210000]" in diff[1] and "bounds: [0.3, 0.58]" in diff[3]
    load_yaml_strategy(doc.text())  # still a valid strategy


def test_gate_kind_change_and_axis_rename_keep_position():
    doc = StrategyDocument(EDIT_STRATEGY, source="t.yaml")
    doc.set_gate("Activated", {"rectangle": {"CD25": {"min": 0.5}, "CD127": {"max": 0.4}}})
    doc.set_gate("Leukocytes", {"polygon": {"x": "CD45", "y": "SSC-A", "vertices": [[0.4, 0], [1, 0], [1, 9e4]]}})
    text = doc.text()
    assert "rectangle: {CD25: {min: 0.5}, CD127: {max: 0.4}}" in text
    assert "    parent: Cells\n    polygon: {x: CD45, y: SSC-A, vertices: [[0.4, 0], [1, 0], [1, 90000]]}" in text
    assert "# CD45+ (static)" not in text  # the comment belonged to the replaced gate's line
    load_yaml_strategy(text)


def test_rename_delete_add():
    doc = StrategyDocument(EDIT_STRATEGY, source="t.yaml")
    doc.set_name("Leukocytes", "CD45+")
    doc.rename_reference("T cells", "T")
    doc.delete(["Activated"])
    doc.add("B cells", parent="Leukocytes", gate={"range": {"CD19": {"min": 0.5}}}, after="Leukocytes")
    text = doc.text()
    assert "  Leukocytes:\n    parent: Cells\n    name: CD45+\n" in text
    assert "    not: T\n" in text and "Activated" not in text
    assert "  B cells:\n    parent: Leukocytes\n    range: {CD19: {min: 0.5}}\n  T cells:" in text
    assert "# -- scatter: drawn by hand" in text


def test_new_strategy_gets_block_style_populations():
    doc = StrategyDocument(NEW_STRATEGY, source="new.yaml")
    assert len(doc.populations) == 0
    doc.add("Cells", parent=None, gate={"polygon": {"x": "FSC-A", "y": "SSC-A",
                                                    "vertices": [[1, 1], [5, 1], [5, 5]]}})
    text = doc.text()
    assert "populations:\n  Cells:\n    polygon: {x: FSC-A, y: SSC-A, vertices: [[1, 1], [5, 1], [5, 5]]}\n" in text
    assert load_yaml_strategy(text).paths == ("/Cells",)


@pytest.mark.parametrize("name", ["b_cells.yaml", "nk_monocytes.yaml", "t_cells.yaml", "lupus_pd.yaml"])
def test_line_merge_keeps_lines_ruamel_would_respell(name: str):
    original = (ROOT / "gating_strategies" / name).read_text(encoding="utf-8")
    base = StrategyDocument(original, source=name).text()
    assert merge_lines(base, original, base) == original  # no edit: the file as it is
    doc = StrategyDocument(original, source=name)
    first = next(iter(doc.populations))
    gate = doc.gate(first)
    kind = next(iter(gate))
    assert kind in ("range", "polygon", "rectangle")
    doc.set_name(first, "Renamed first")
    merged = merge_lines(base, original, doc.text())
    diff = changed_lines(original, merged)
    assert diff and all("Renamed first" in line for line in diff if line.startswith("+"))
    assert len([line for line in diff if line.startswith("-")]) == 0  # one line added, none lost
    assert load_yaml_strategy(merged, source=ROOT / "gating_strategies" / name).paths[0] == "/Renamed first"


def test_not_a_yaml_strategy_is_refused(tmp_path: Path):
    from cytogate.errors import StrategyError

    with pytest.raises(StrategyError, match="populations"):
        StrategyDocument("<Gating-ML/>\n", source="x.xml")
    with pytest.raises(StrategyError, match="not a YAML strategy"):
        StrategyDocument("a: [\n", source="x.yaml")
