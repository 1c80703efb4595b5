"""Invalid strategies fail with StrategyError naming file:line:column and the population path."""

from __future__ import annotations

import re
import textwrap

import pytest

from cytogate.errors import StrategyError
from cytogate.strategy.yaml_format import load_yaml_strategy

HEAD = "cytogate_strategy: 1\npopulations:\n"


def _error(text: str, source: str = "s.yaml") -> StrategyError:
    with pytest.raises(StrategyError) as info:
        load_yaml_strategy(textwrap.dedent(text), source=source)
    return info.value


CASES = [
    # (id, yaml, line, column, population, message regex)
    ("syntax", HEAD + "  A: {range: {FSC-A: {min: 1}}\n", 4, 1, "A", "YAML syntax error"),
    ("object-tag", HEAD + "  A: !!python/object/apply:os.system ['touch /tmp/cytogate_pwned']\n", 3, 6, "A",
     "tag .*python/object/apply:os.system.* not allowed"),
    ("custom-tag", HEAD + "  A: {range: {FSC-A: {min: !expr 1+1}}}\n", 3, 28, None, "tag '!expr' is not allowed"),
    ("wrong-type", HEAD + "  A: {range: {FSC-A: {min: abc}}}\n", 3, 28, "/A", "unknown threshold 'abc'"),
    ("bool-number", HEAD + "  A: {range: {FSC-A: {min: true}}}\n", 3, 28, "/A", "must be a number"),
    ("unknown-key", HEAD + "  A: {range: {FSC-A: {min: 1}}}\n  B: {parnet: A, range: {FSC-A: {min: 1}}}\n", 4, 7, "/B",
     r"unknown key 'parnet'.*did you mean 'parent'\?"),
    ("unknown-gate", HEAD + "  A: {rectangel: {FSC-A: {min: 1}}}\n", 3, 7, "/A", r"did you mean 'rectangle'\?"),
    ("no-gate", HEAD + "  A: {parent: B}\n", 3, 3, None, "has no gate"),
    ("two-gates", HEAD + "  A: {range: {X: {min: 1}}, polygon: {x: X, y: Y, vertices: [[0, 0], [1, 0], [0, 1]]}}\n",
     3, 29, "/A", "several gates"),
    ("missing-parent", HEAD + "  Cells: {range: {FSC-A: {min: 1}}}\n  B: {parent: Cels, range: {CD19: {min: 1}}}\n",
     4, 15, "/.../Cels/B", r"parent 'Cels' is not a population \(did you mean 'Cells'\?\)"),
    ("cycle", HEAD + "  A: {parent: B, range: {X: {min: 1}}}\n  B: {parent: A, range: {X: {min: 1}}}\n", 3, 3, None,
     "cycle: A -> B -> A"),
    ("self-parent", HEAD + "  A: {parent: A, range: {X: {min: 1}}}\n", 3, 3, None, "cycle"),
    ("duplicate-key", HEAD + "  A: {range: {X: {min: 1}}}\n  A: {range: {X: {min: 2}}}\n", 4, 3, "A",
     r"duplicate key 'A' \(first defined at line 3\)"),
    ("duplicate-path", HEAD + "  A: {range: {X: {min: 1}}}\n  B: {name: A, range: {X: {min: 2}}}\n", 4, 3, None,
     "population path '/A' is defined twice"),
    ("degenerate-polygon", HEAD + "  P: {polygon: {x: X, y: Y, vertices: [[0, 0], [1, 1], [2, 2]]}}\n", 3, 39, "/P",
     "polygon has no area: its vertices lie on one line"),
    ("two-vertices", HEAD + "  P: {polygon: {x: X, y: Y, vertices: [[0, 0], [1, 1], [0, 0]]}}\n", 3, 39, "/P",
     "at least 3 distinct vertices"),
    ("ragged-vertices", HEAD + "  P: {polygon: {x: X, y: Y, vertices: [[0, 0], [1], [0, 1]]}}\n", 3, 39, "/P",
     "rows of equal length"),
    ("min-above-max", HEAD + "  A: {range: {X: {min: 5, max: 1}}}\n", 3, 18, "/A", "min 5.0 of 'X' is not below max"),
    ("bad-bounds", HEAD + "  A: {range: {X: {min: {density_valley: {bounds: [1, 0]}}}}}\n", 3, 50, "/A", "low < high"),
    ("bad-rule-option", HEAD + "  A: {range: {X: {min: {tail: {q: 0.5}}}}}\n", 3, 32, "/A",
     "unknown key 'q' in tail options"),
    ("unknown-ref", HEAD + "  A: {range: {X: {min: 1}}}\n  B: {and: [A, Z]}\n", 4, 16, "/B", "unknown population 'Z'"),
    ("unknown-transform", HEAD + "  A: {transform: lgc, range: {X: {min: 1}}}\n", 3, 18, "/A",
     "unknown transform 'lgc'"),
    ("bad-transform-param", HEAD + "  A: {transform: {logicle: {T: -1, W: 0.5, M: 4.5, A: 0}}, range: {X: {min: 1}}}\n",
     3, 28, "/A", "invalid logicle transform"),
    ("unknown-compensation", HEAD + "  A: {compensation: flie, range: {X: {min: 1}}}\n", 3, 21, "/A",
     r"did you mean 'file'\?"),
    ("quadrant-label", HEAD + "  Q: {quadrant: {dividers: {CD4: 1}, populations: {CD8+: X}}}\n", 3, 52, "/Q",
     "not made of dividers"),
    ("slash-name", HEAD + "  A: {name: a/b, range: {X: {min: 1}}}\n", 3, 13, "/a_b", "must not contain '/'"),
    ("singular-cov",
     HEAD + "  E: {ellipse: {x: X, y: Y, mean: [0, 0], covariance: [[1, 1], [1, 1]], distance_square: 1}}\n",
     3, 55, "/E", "singular"),
    ("gmm-one-dim", HEAD + "  G: {gmm: {dimensions: [X]}}\n", 3, 12, "/G", "at least 2 dimensions"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_error_location_and_message(case):
    _, text, line, column, population, pattern = case
    error = _error(text)
    assert (error.line, error.column) == (line, column), str(error)
    assert str(error).startswith(f"s.yaml:{line}:{column}: ")
    assert re.search(pattern, str(error)), str(error)
    if population is not None:
        assert error.location.get("population") == population, str(error)


def test_object_tag_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    text = HEAD + f"  A: !!python/object/apply:os.system ['touch {marker}']\n"
    with pytest.raises(StrategyError):
        load_yaml_strategy(text)
    assert not marker.exists()


@pytest.mark.parametrize(
    "text,pattern",
    [
        ("", "empty"),
        ("- a\n- b\n", "must be a mapping"),
        ("populations: {A: {range: {X: {min: 1}}}}\n", "cytogate_strategy: 1"),
        ("cytogate_strategy: 2\npopulations: {A: {range: {X: {min: 1}}}}\n", "unsupported cytogate_strategy version 2"),
        ("cytogate_strategy: 1\n", "no 'populations'"),
        ("cytogate_strategy: 1\npopulations: {}\n", "empty"),
        ("cytogate_strategy: 1\npopulatoins: {}\n", "did you mean 'populations'"),
        ("a: 1\n---\nb: 2\n", "several YAML documents"),
        ("cytogate_strategy: 1\npanel: nowhere.yaml\npopulations: {A: {range: {X: {min: 1}}}}\n", "not found"),
        ("cytogate_strategy: 1\nmarkers: {CD3: [x], CD4: [X]}\npopulations: {A: {range: {X: {min: 1}}}}\n",
         "listed for both"),
        ("a: &a [1, *a]\n", "recursive|alias"),
    ],
)
def test_document_level_errors(text, pattern):
    assert re.search(pattern, str(_error(text))), str(_error(text))


def test_alias_bomb_is_bounded():
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [{', '.join([f'*{prev}'] * 10)}]")
    with pytest.raises(StrategyError, match="expands to more than"):
        load_yaml_strategy("\n".join(lines) + "\n")


def test_source_defaults_to_string_marker():
    with pytest.raises(StrategyError, match=r"^<string>:3:"):
        load_yaml_strategy(HEAD + "  A: {range: {X: {mn: 1}}}\n")
