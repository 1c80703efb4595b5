"""Marker panels: alias tables, panel files and marker resolution in files."""

from __future__ import annotations

from pathlib import Path

import pytest

from cytogate.errors import MarkerError, StrategyError
from cytogate.strategy import panels

GATING_STRATEGIES = Path(__file__).resolve().parents[2] / "gating_strategies"
CHANNELS = ["FSC-A", "YG586-A", "V660-A", "B710-A", "R670-A"]
MARKERS = [None, "BAFF-R", "BDCA2", "CD3", "cd19"]
TABLE = {"CD268": ("CD268", "BAFF-R", "BAFFR"), "CD303": ("CD303", "BDCA-2", "BDCA2")}


@pytest.mark.parametrize(
    "name,index",
    [("FSC-A", 0), ("CD3", 3), ("B710-A", 3), ("CD268", 1), ("BAFFR", 1), ("BAFF-R", 1), ("CD303", 2), ("CD19", 4)],
)
def test_resolve_marker(name, index):
    assert panels.resolve_marker(name, CHANNELS, MARKERS, TABLE) == index


def test_pnn_wins_over_pns():
    assert panels.resolve_marker("B710-A", ["X", "B710-A"], ["B710-A", None]) == 1


def test_missing_marker_lists_the_file():
    with pytest.raises(MarkerError) as info:
        panels.resolve_marker("CD123", CHANNELS, MARKERS, TABLE)
    assert "YG586-A (BAFF-R)" in str(info.value) and "CD123" in str(info.value)
    with pytest.raises(MarkerError, match="also tried BAFF-R"):
        panels.resolve_marker("CD268", ["FSC-A"], [None], TABLE)


def test_ambiguous_marker():
    with pytest.raises(MarkerError, match="ambiguous"):
        panels.resolve_marker("CD268", ["A", "B"], ["BAFF-R", "BAFFR"], TABLE)
    with pytest.raises(MarkerError, match="ambiguous"):
        panels.resolve_marker("CD3", ["A", "B"], ["CD3", "CD3"])


def test_alias_table_parsing_and_conflicts():
    table = panels.parse_alias_table({"CD268": ["BAFF-R", "BAFFR"], "CD3": "Leu-4"})
    assert table == {"CD268": ("CD268", "BAFF-R", "BAFFR"), "CD3": ("CD3", "Leu-4")}
    with pytest.raises(StrategyError, match="listed for both"):
        panels.parse_alias_table({"CD4": ["X"], "CD8": ["x"]})
    with pytest.raises(StrategyError, match="must be texts"):
        panels.parse_alias_table({"CD4": [1]})
    target = dict(table)
    panels.merge(target, {"CD268": ["TNFRSF13C"]})
    assert target["CD268"] == ("CD268", "BAFF-R", "BAFFR", "TNFRSF13C")
    with pytest.raises(StrategyError, match="listed for both"):
        panels.merge(target, {"CD19": ["BAFF-R"]})


def test_expand_maps_every_name_to_its_group():
    groups = panels.expand(TABLE)
    assert groups["BDCA-2"] == groups["CD303"] == ("CD303", "BDCA-2", "BDCA2")


def test_panel_files(tmp_path):
    bare = tmp_path / "bare.yaml"
    bare.write_text("CD303: [BDCA-2, BDCA2]\n")
    assert panels.load_panel(bare) == {"CD303": ("CD303", "BDCA-2", "BDCA2")}
    versioned = tmp_path / "v.yaml"
    versioned.write_text("cytogate_panel: 1\nname: x\nmarkers:\n  CD268: [BAFF-R]\n")
    assert panels.load_panel(versioned)["CD268"] == ("CD268", "BAFF-R")
    bad = tmp_path / "bad.yaml"
    bad.write_text("cytogate_panel: 1\nmarkrs: {}\n")
    with pytest.raises(StrategyError, match=r"bad.yaml:2:1: unknown key 'markrs'"):
        panels.load_panel(bad)
    with pytest.raises(StrategyError, match="cannot read"):
        panels.load_panel(tmp_path / "missing.yaml")


def test_shipped_panel_file_matches_standard_table():
    shipped = panels.load_panel(GATING_STRATEGIES / "markers.yaml")
    for marker, names in shipped.items():
        assert set(names) <= set(panels.STANDARD_ALIASES[marker]), marker


def test_editing_a_panel_file_changes_the_strategy_hash(tmp_path):
    from cytogate.strategy import load_strategy

    strategy_file = tmp_path / "s.yaml"
    strategy_file.write_text(
        "cytogate_strategy: 1\npanel: panel.yaml\n"
        "populations:\n  Pos: {range: {CD268: {min: 0.5}}}\n"
    )
    (tmp_path / "panel.yaml").write_text("CD268: [CD268, BAFF-R]\n")
    first = load_strategy(strategy_file).sha256
    assert load_strategy(strategy_file).sha256 == first
    (tmp_path / "panel.yaml").write_text("CD268: [CD268, BAFFR]\n")
    assert load_strategy(strategy_file).sha256 != first
