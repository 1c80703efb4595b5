"""Hostile YAML strategies and hostile event values.

Malformed YAML, wrong types, unknown keys, cycles, duplicates, missing parents,
degenerate polygons and YAML object tags each give a StrategyError (or
GateError) that says where (file:line:column and population); object tags are
refused and nothing is executed (proved with a sentinel file).  NaN and
infinite event values follow the kernels' stated rules and never crash.
"""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from hostile_inputs import assert_clean_refusal, run_cli

from cytogate import gate, load_strategy
from cytogate.errors import GateError, StrategyError
from cytogate.fcs import Sample

HEAD = "cytogate_strategy: 1\nname: hostile\npopulations:\n"
CELLS = "  Cells: {rectangle: {FSC-A: {min: 1}}}\n"

CASES = {
    # id: (YAML text, regex the message must match, line the message must name)
    "unclosed-flow": (HEAD + "  Cells: {rectangle: {FSC-A: {min: 1}\n", "YAML syntax error", None),
    "tab-indent": (HEAD + "\tCells: x\n", "YAML syntax error", 4),
    "wrong-type-threshold": (HEAD + "  Cells: {rectangle: {FSC-A: {min: one}}}\n", "'one'", 4),
    "wrong-type-populations": ("cytogate_strategy: 1\npopulations: [a, b]\n", "populations", 2),
    "wrong-type-vertices": (HEAD + "  P: {polygon: {x: FSC-A, y: SSC-A, vertices: 7}}\n", "vertices", 4),
    "unknown-gate-key": (HEAD + "  Cells: {rectangel: {FSC-A: {min: 1}}}\n", "did you mean 'rectangle'", 4),
    "unknown-top-key": ("cytogate_strategy: 1\npopulatoins:\n" + CELLS, "did you mean 'populations'", 2),
    "cycle": (HEAD + "  A: {parent: B, rectangle: {FSC-A: {min: 1}}}\n  B: {parent: A, rectangle: {FSC-A: {min: 1}}}\n",
              "cycle", None),
    "self-parent": (HEAD + "  A: {parent: A, rectangle: {FSC-A: {min: 1}}}\n", "cycle|itself", 4),
    "duplicate-name": (HEAD + CELLS + CELLS, "duplicate", 5),
    "missing-parent": (HEAD + "  A: {parent: Z, rectangle: {FSC-A: {min: 1}}}\n", "'Z'", 4),
    "polygon-2-vertices": (HEAD + "  P: {polygon: {x: FSC-A, y: SSC-A, vertices: [[0, 0], [1, 1]]}}\n",
                           "at least 3", 4),
    "polygon-zero-area": (HEAD + "  P: {polygon: {x: FSC-A, y: SSC-A, vertices: [[0, 0], [1, 1], [2, 2]]}}\n",
                          "has no area", 4),
    "polygon-one-point": (HEAD + "  P: {polygon: {x: FSC-A, y: SSC-A, vertices: [[1, 1], [1, 1], [1, 1]]}}\n",
                          "distinct", 4),
    "polygon-nan": (HEAD + "  P: {polygon: {x: FSC-A, y: SSC-A, vertices: [[0, 0], [1, .nan], [2, 0]]}}\n",
                    "finite", 4),
    "rectangle-inf": (HEAD + "  Cells: {rectangle: {FSC-A: {min: .inf}}}\n", "finite", 4),
    "rectangle-min-above-max": (HEAD + "  Cells: {rectangle: {FSC-A: {min: 5, max: 1}}}\n", "not below", 4),
    "not-a-mapping": ("- 1\n- 2\n", "mapping", None),
    "unsupported-version": ("cytogate_strategy: 2\npopulations:\n" + CELLS, "version 2", 1),
    "no-version": ("populations:\n" + CELLS, "cytogate_strategy", 1),
    "no-populations": ("cytogate_strategy: 1\n", "populations", None),
    "empty-populations": ("cytogate_strategy: 1\npopulations: {}\n", "empty", 2),
}


@pytest.mark.parametrize("case", CASES)
def test_malformed_strategy_says_where(tmp_path, case):
    text, match, line = CASES[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    with pytest.raises(StrategyError, match=match) as info:
        load_strategy(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    if line is not None:
        assert f"{path}:{line}:" in message, message
    assert "\n" not in message


def test_error_names_the_population_path(tmp_path):
    path = tmp_path / "pop.yaml"
    path.write_text(HEAD + CELLS + "  T cells: {parent: Cells, rectangle: {CD3: {min: nope}}}\n")
    with pytest.raises(StrategyError, match=r"population /Cells/T cells"):
        load_strategy(path)


@pytest.mark.parametrize("case", ["cycle", "self-parent", "long-cycle"])
def test_cycle_message_is_short(tmp_path, case):
    text = CASES[case][0] if case in CASES else (
        HEAD + CELLS + "".join(f"  {a}: {{parent: {b}, rectangle: {{FSC-A: {{min: 1}}}}}}\n"
                               for a, b in [("A", "B"), ("B", "D"), ("D", "A"), ("E", "D")]))
    path = tmp_path / "cycle.yaml"
    path.write_text(text)
    with pytest.raises(StrategyError, match=r"in a cycle: (A -> B -> A|A -> A|A -> B -> D -> A) ") as info:
        load_strategy(path)
    message = str(info.value)
    assert len(message) < 300 and message.count("A") <= 4, message
    assert re.match(rf"{re.escape(str(path))}:\d+:\d+: ", message), message


# -- YAML tags: refused, nothing executed --------------------------------------------------

TAG_PAYLOADS = {
    "apply-os-system": "!!python/object/apply:os.system ['touch {sentinel}']",
    "apply-subprocess": "!!python/object/apply:subprocess.call [['touch', '{sentinel}']]",
    "new-popen": "!!python/object/new:subprocess.Popen [['touch', '{sentinel}']]",
    "name": "!!python/name:os.system",
    "module": "!!python/module:os",
    "apply-exec": "!!python/object/apply:builtins.exec [\"open('{sentinel}', 'w').close()\"]",
}


@pytest.mark.parametrize("payload", TAG_PAYLOADS)
@pytest.mark.parametrize("where", ["top", "name", "gate-bound"])
def test_yaml_object_tags_are_refused_and_never_executed(tmp_path, payload, where):
    sentinel = tmp_path / "SENTINEL"
    tag = TAG_PAYLOADS[payload].format(sentinel=sentinel)
    text = {
        "top": f"{tag}\n",
        "name": f"cytogate_strategy: 1\nname: {tag}\npopulations:\n{CELLS}",
        "gate-bound": f"{HEAD}  Cells: {{rectangle: {{FSC-A: {{min: {tag}}}}}}}\n",
    }[where]
    path = tmp_path / "tag.yaml"
    path.write_text(text)
    with pytest.raises(StrategyError, match="not allowed|tag") as info:
        load_strategy(path)
    assert str(path) in str(info.value)
    assert not sentinel.exists(), "a YAML tag was executed"


def test_yaml_object_tag_refused_by_the_cli(tmp_path):
    sentinel = tmp_path / "SENTINEL"
    path = tmp_path / "tag.yaml"
    path.write_text(f"cytogate_strategy: 1\nname: !!python/object/apply:os.system ['touch {sentinel}']\n"
                    f"populations:\n{CELLS}")
    line = assert_clean_refusal(run_cli("validate", path))
    assert "tag" in line
    assert not sentinel.exists()


def test_alias_bomb_is_refused(tmp_path):
    """YAML anchors nested 8 deep (9**8 = 43M values if expanded) are refused, not expanded."""
    rows = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    rows += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 8)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(rows) + "\ncytogate_strategy: 1\npopulations:\n" + CELLS)
    start = time.perf_counter()
    with pytest.raises(StrategyError, match="expand"):
        load_strategy(path)
    assert time.perf_counter() - start < 30  # a hang guard; it is refused in about 2 s today


@pytest.mark.parametrize("style", ["flow", "block"])
def test_deeply_nested_yaml_is_a_strategy_error(tmp_path, style):
    path = tmp_path / "deep.yaml"
    deep = "[" * 5000 + "]" * 5000 if style == "flow" else "".join(f"\n{' ' * (i + 1)}k{i}:" for i in range(5000)) + " 1"
    path.write_text("cytogate_strategy: 1\nx: " + deep + "\npopulations:\n" + CELLS)
    with pytest.raises(StrategyError, match="nested more than 100 levels") as info:
        load_strategy(path)
    assert str(info.value).startswith(f"{path}:2:103:" if style == "flow" else f"{path}:101:100:"), str(info.value)
    assert "\n" not in str(info.value)


def test_aliases_nesting_deeply_are_a_strategy_error(tmp_path):
    """Each anchor nests 60 levels around the previous one: few nodes, but 600 levels once expanded."""
    rows = ["a0: &a0 " + "[" * 60 + "1" + "]" * 60]
    rows += [f"a{i}: &a{i} " + "[" * 60 + f"*a{i - 1}" + "]" * 60 for i in range(1, 10)]
    path = tmp_path / "deep-alias.yaml"
    path.write_text("\n".join(rows) + "\ncytogate_strategy: 1\npopulations:\n" + CELLS)
    with pytest.raises(StrategyError, match="more than 200 levels deep") as info:
        load_strategy(path)
    assert str(info.value).startswith(f"{path}:")


def test_long_yaml_parent_chain_loads(tmp_path):
    """3000 populations each the child of the next one listed: no recursion limit is hit."""
    rows = [f"  p{i}: {{parent: p{i - 1}, rectangle: {{FSC-A: {{min: 1}}}}}}\n" for i in range(2999, 0, -1)]
    path = tmp_path / "chain.yaml"
    path.write_text("cytogate_strategy: 1\npopulations:\n" + "".join(rows) + "  p0: {rectangle: {FSC-A: {min: 1}}}\n")
    strategy = load_strategy(path)
    assert len(strategy.populations) == 3000
    assert strategy.evaluation_order[0] == "/p0" and strategy.evaluation_order[-1].endswith("/p2998/p2999")


def test_non_utf8_strategy(tmp_path):
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"cytogate_strategy: 1\nname: \xff\xfe\npopulations:\n" + CELLS.encode())
    with pytest.raises(StrategyError, match="UTF-8"):
        load_strategy(path)


# -- NaN and infinite event values -----------------------------------------------------------

STRATEGY = """cytogate_strategy: 1
name: nan and inf
transform: {logicle: {T: 262144, W: 0.5, M: 4.5, A: 0}}
scatter_transform: linear
populations:
  Cells: {polygon: {x: FSC-A, y: SSC-A, vertices: [[100, 100], [900, 100], [900, 900], [100, 900]]}}
  Rect: {parent: Cells, rectangle: {FSC-A: {min: 200}, SSC-A: {max: 800}}}
  Ell: {parent: Cells, ellipse: {x: FSC-A, y: SSC-A, mean: [500, 500], covariance: [[1e4, 0], [0, 1e4]], distance_square: 4}}
  Pos: {parent: Cells, range: {CD3: {min: 0.45}}}
  Valley: {parent: Cells, range: {CD3: {min: density_valley}}}
"""


def _events(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    events = rng.uniform(0, 1000, (3000, 3))
    events[:, 2] = np.where(rng.random(3000) < 0.5, rng.normal(200, 50, 3000), rng.normal(20000, 3000, 3000))
    return events


def _counts(events: np.ndarray) -> dict[str, int]:
    sample = Sample.from_arrays(events, ["FSC-A", "SSC-A", "FL1-A"], markers=[None, None, "CD3"])
    result = gate(load_strategy(STRATEGY), sample)
    table = result.counts
    assert np.isfinite(table["freq_total"]).all()
    return dict(zip(table["population"], table["count"]))


@pytest.mark.parametrize("fill", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_nan_and_infinite_events_follow_the_stated_rules(fill):
    clean = _events()
    dirty = clean.copy()
    dirty[::7, 0] = fill
    dirty[::11, 1] = fill
    dirty[::13, 2] = fill
    counts = _counts(dirty)
    # Scatter NaN/inf rows are never inside the bounded polygon; the clean rows keep their fate.
    bad_scatter = ~np.isfinite(dirty[:, :2]).all(axis=1)
    keep = ~bad_scatter & np.isfinite(dirty[:, 2])
    assert counts["/Cells"] == _count_subset(clean, ~bad_scatter)
    assert counts["/Cells/Pos"] >= _count_subset(clean, keep, "/Cells/Pos")
    if np.isnan(fill) or fill < 0:
        # NaN is outside every gate; -inf is below every finite minimum.
        assert counts["/Cells/Pos"] == _count_subset(clean, keep, "/Cells/Pos")


def _count_subset(events: np.ndarray, rows: np.ndarray, population: str = "/Cells") -> int:
    return _counts(events[rows])[population]


def test_all_nan_channel_gives_a_gate_error_naming_the_marker():
    events = _events()
    events[:, 2] = np.nan
    with pytest.raises(GateError, match="CD3"):
        _counts(events)


def test_failed_data_driven_fit_names_marker_and_population():
    """An all-NaN channel leaves a density valley nothing to fit: the error says which marker and population."""
    events = _events()
    events[:, 2] = np.nan
    sample = Sample.from_arrays(events, ["FSC-A", "SSC-A", "FL1-A"], markers=[None, None, "CD3"])
    with pytest.raises(GateError, match=r"CD3: density_valley fit failed.*\(population /Cells/Valley\)"):
        gate(load_strategy(STRATEGY), sample)
