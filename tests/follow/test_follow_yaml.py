"""The YAML ``follow:`` sections: parsed, validated at line and column, written back losslessly."""

from __future__ import annotations

import pytest
from follow_helpers import TEMPLATE

from cytogate.errors import StrategyError
from cytogate.strategy import Strategy
from cytogate.strategy.follow_settings import FollowSettings
from cytogate.strategy.yaml_format import load_yaml_strategy
from cytogate.strategy.yaml_write import strategy_to_yaml

TOP = "follow: {reference: drawn_on.fcs, max_displacement: 0.2, method: affine}\n"


def _text(top=TOP, live="    follow: false\n", subsets="    follow: {stiffness: 0.1}\n"):
    text = TEMPLATE.read_text().replace("populations:\n", f"{top}populations:\n", 1)
    text = text.replace("    range: {Live/Dead: {max: 0.61}}\n", "    range: {Live/Dead: {max: 0.61}}\n" + live)
    return text.replace("  T subsets:\n    parent: T cells\n", "  T subsets:\n    parent: T cells\n" + subsets)


def _line_of(text, needle):
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_sections_are_parsed_with_the_reference_relative_to_the_strategy(tmp_path):
    strategy = load_yaml_strategy(_text(), source=tmp_path / "s.yaml")
    spec = strategy.follow
    assert spec.reference == str(tmp_path / "drawn_on.fcs")
    assert spec.settings == FollowSettings(max_displacement=0.2, method="affine")
    live = "/Cells/Singlets/Live"
    assert spec.populations[live] is None
    quadrant = [p for p in spec.populations if p.endswith(("/CD4 T", "/CD8 T"))]
    assert len(quadrant) == 2  # both cells of the quadrant group
    assert all(spec.populations[p] == FollowSettings(max_displacement=0.2, method="affine", stiffness=0.1)
               for p in quadrant)


def test_writer_round_trips_the_follow_sections(tmp_path):
    strategy = load_yaml_strategy(_text(), source=tmp_path / "s.yaml")
    back = load_yaml_strategy(strategy_to_yaml(strategy), source=tmp_path / "t.yaml")
    assert back.follow == strategy.follow
    assert Strategy.from_dict(strategy.to_dict()).follow == strategy.follow


def test_no_follow_section_means_none():
    assert load_yaml_strategy(TEMPLATE.read_text()).follow is None
    only_pins = load_yaml_strategy(_text(top="", subsets=""))
    assert only_pins.follow.reference is None and list(only_pins.follow.populations) == ["/Cells/Singlets/Live"]


@pytest.mark.parametrize(("top", "live", "needle", "column", "message"), [
    ("follow: {reference: r.fcs, max_displacement: 3}\n", "", "follow: {reference", 46, "max_displacement"),
    ("follow: {reference: r.fcs, speed: 1}\n", "", "follow: {reference", 28, "unknown key 'speed'"),
    ("follow: [r.fcs]\n", "", "follow: [r.fcs]", 9, "must be a mapping"),
    ("", "    follow: {stiffnes: 0.1}\n", "stiffnes", 14, "did you mean 'stiffness'"),
    ("", "    follow: maybe\n", "follow: maybe", 13, "true, false or a mapping"),
    ("", "    follow: {bins: many}\n", "bins: many", 20, "bins must be a number"),
])
def test_bad_sections_fail_at_line_and_column(top, live, needle, column, message):
    text = _text(top=top, live=live, subsets="")
    with pytest.raises(StrategyError, match=message) as info:
        load_yaml_strategy(text, source="s.yaml")
    assert (info.value.line, info.value.column) == (_line_of(text, needle), column), str(info.value)


def test_follow_on_a_data_driven_gate_is_refused_where_written():
    text = TEMPLATE.read_text().replace(
        "  Live:\n    parent: Singlets\n    range: {Live/Dead: {max: 0.61}}\n",
        "  Live:\n    parent: Singlets\n    range: {Live/Dead: {max: density_valley}}\n    follow: {stiffness: 0.1}\n")
    with pytest.raises(StrategyError, match="data-driven") as info:
        load_yaml_strategy(text, source="s.yaml")
    assert info.value.line == _line_of(text, "follow: {stiffness")
