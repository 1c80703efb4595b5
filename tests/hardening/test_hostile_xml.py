"""Hostile Gating-ML and FlowJo workspaces: entities, expansion bombs, deep nesting, junk values.

Every one is refused with a StrategyError through the API and with exit code 2
and a one-line message through ``cytogate validate``/``convert``/``run``;
none takes long or reads a file named by an entity.
"""

from __future__ import annotations

import time

import pytest
from hostile_inputs import (
    assert_clean_refusal,
    billion_laughs_doctype,
    deep_elements,
    gatingml,
    gml_rect,
    nested_populations,
    quadratic_doctype,
    run_cli,
    small_fcs,
    wsp,
    wsp_population,
    xxe_doctype,
)

from cytogate.errors import StrategyError
from cytogate.strategy import load_strategy
from cytogate.strategy.flowjo_wsp import read_wsp

QUICK = 2.0  # seconds: a refused bomb costs milliseconds; an expanded one would take minutes and gigabytes

GML_ROOT = "gating:Gating-ML"
ATTACKS = {
    "xxe": (xxe_doctype, "&xxe;"),
    "xxe-network": (lambda root: xxe_doctype(root, "http://127.0.0.1:9/evil"), "&xxe;"),
    "billion-laughs": (billion_laughs_doctype, "&l9;"),
    "quadratic-blowup": (quadratic_doctype, "&a;" * 20_000),
}


def _hostile_gatingml(kind: str) -> str:
    doctype, reference = ATTACKS[kind]
    return gatingml(gml_rect(reference), doctype(GML_ROOT))


def _hostile_wsp(kind: str) -> str:
    doctype, reference = ATTACKS[kind]
    return wsp(wsp_population(reference), doctype("Workspace"))


def _timed_refusal(call, match: str | None = None) -> StrategyError:
    start = time.perf_counter()
    with pytest.raises(StrategyError, match=match) as info:
        call()
    assert time.perf_counter() - start < QUICK
    return info.value


@pytest.mark.parametrize("kind", ATTACKS)
def test_gatingml_entities_are_refused(tmp_path, kind):
    path = tmp_path / f"{kind}.xml"
    path.write_text(_hostile_gatingml(kind))
    error = _timed_refusal(lambda: load_strategy(path), "unsafe XML")
    assert str(path) in str(error)
    assert "root:" not in str(error)  # nothing of /etc/passwd leaks into the message
    # The same text passed directly (not as a path) is refused too.
    _timed_refusal(lambda: load_strategy(path.read_text()), "unsafe XML")


@pytest.mark.parametrize("kind", ATTACKS)
def test_flowjo_entities_are_refused(tmp_path, kind):
    path = tmp_path / f"{kind}.wsp"
    path.write_text(_hostile_wsp(kind))
    error = _timed_refusal(lambda: read_wsp(path), "unsafe XML")
    assert str(path) in str(error)


def test_external_dtd_is_never_loaded(tmp_path):
    """A DOCTYPE naming an external DTD: the DTD (which would define the entity) is not fetched."""
    dtd = tmp_path / "evil.dtd"
    dtd.write_text('<!ENTITY ent "pwned">')
    path = tmp_path / "dtd.xml"
    path.write_text(gatingml(gml_rect("&ent;"), f'<!DOCTYPE {GML_ROOT} SYSTEM "{dtd.as_uri()}">\n'))
    try:
        strategy = load_strategy(path)
    except StrategyError:
        return
    assert all("pwned" not in p.name for p in strategy.populations)


def test_deeply_nested_gatingml_is_quick_and_safe(tmp_path):
    """100k levels of unknown elements: refused or ignored, never a crash or a stack overflow."""
    path = tmp_path / "deep.xml"
    path.write_text(gatingml(deep_elements(100_000, "gating:junk") + gml_rect("Cells")))
    start = time.perf_counter()
    try:
        strategy = load_strategy(path)
    except StrategyError:
        pass
    else:
        assert [p.name for p in strategy.populations] == ["Cells"]
    assert time.perf_counter() - start < QUICK


def test_long_gatingml_parent_chain_loads(tmp_path):
    """3000 gates each the child of the previous: no recursion limit is hit."""
    body = "".join(gml_rect(f"g{i}", parent=f"g{i - 1}" if i else None) for i in range(3000))
    path = tmp_path / "chain.xml"
    path.write_text(gatingml(body))
    assert len(load_strategy(path).populations) == 3000


@pytest.mark.parametrize(
    "body,match",
    [
        (gml_rect("A", low="abc"), "not a number"),
        (gml_rect("A", low="NaN"), "NaN"),
        (gml_rect("A", parent="B") + gml_rect("B", parent="A"), "loops"),
        (gml_rect("A", parent="A"), "loops"),
        (gml_rect("A") + gml_rect("A"), "defined twice"),
        (gml_rect("A", parent="Z"), "unknown parent_id 'Z'"),
        ("", "no gates"),
    ],
    ids=["non-numeric", "nan", "cycle", "self-parent", "duplicate", "missing-parent", "empty"],
)
def test_malformed_gatingml_is_a_strategy_error(tmp_path, body, match):
    path = tmp_path / "bad.xml"
    path.write_text(gatingml(body))
    error = _timed_refusal(lambda: load_strategy(path), match)
    assert str(error).startswith(f"{path}: "), str(error)


def test_long_gatingml_parent_chain_listed_child_first_loads(tmp_path):
    """3000 gates each the child of the next one listed: parents resolved without recursion."""
    body = "".join(gml_rect(f"g{i}", parent=f"g{i - 1}" if i else None) for i in reversed(range(3000)))
    path = tmp_path / "chain.xml"
    path.write_text(gatingml(body))
    strategy = load_strategy(path)
    assert len(strategy.populations) == 3000
    assert strategy.evaluation_order[-1] == "/" + "/".join(f"g{i}" for i in range(3000))


def test_deeply_nested_unknown_wsp_elements_are_quick(tmp_path):
    path = tmp_path / "deepjunk.wsp"
    path.write_text(wsp(wsp_population("A", deep_elements(100_000))))
    start = time.perf_counter()
    try:
        read_wsp(path)
    except StrategyError:
        pass
    assert time.perf_counter() - start < QUICK


def test_deeply_nested_wsp_populations_are_refused(tmp_path):
    path = tmp_path / "deep.wsp"
    path.write_text(wsp(nested_populations(5000)))
    error = _timed_refusal(lambda: read_wsp(path), "nested more than 1000 levels")
    assert str(error).startswith(str(path)) and len(str(error)) < 300


def test_wsp_nesting_at_the_limit_loads(tmp_path):
    """1000 nested populations (the limit) load in document order, without recursion."""
    path = tmp_path / "deep.wsp"
    path.write_text(wsp(nested_populations(1000)))
    imported = read_wsp(path)
    assert [p.name for p in imported.strategy.populations] == [f"p{i}" for i in range(1000)]
    assert imported.counts["/" + "/".join(f"p{i}" for i in range(1000))] == 1


def test_wsp_walk_keeps_document_order(tmp_path):
    """Siblings and children come out depth-first, as FlowJo lists them."""
    path = tmp_path / "order.wsp"
    path.write_text(wsp(wsp_population("A", wsp_population("A1") + wsp_population("A2", wsp_population("A2a")))
                        + wsp_population("B")))
    imported = read_wsp(path)
    assert [(p.parent, p.name) for p in imported.strategy.populations] == [
        ("/", "A"), ("/A", "A1"), ("/A", "A2"), ("/A/A2", "A2a"), ("/", "B")]


@pytest.mark.parametrize(
    "population,match",
    [(wsp_population("A", low="abc"), "'abc' is not a number"),
     (wsp_population("A", low="inf"), "not finite"),
     (wsp_population("A", count="lots"), "'lots' is not a number"),
     (wsp_population("A", count="nan"), "not finite"),
     (wsp_population("A").replace('<data-type:fcs-dimension data-type:name="FSC-A"/>', ""), "no fcs-dimension"),
     (wsp_population("A").replace(' data-type:name="FSC-A"', ""), "no fcs-dimension"),
     ('<AndNode name="B"><Dependents><Dependent/></Dependents></AndNode>', "Dependent has no name")],
    ids=["non-numeric-bound", "infinite-bound", "non-numeric-count", "nan-count", "missing-dimension",
         "unnamed-dimension", "unnamed-dependent"],
)
def test_malformed_wsp_values_are_strategy_errors(tmp_path, population, match):
    path = tmp_path / "bad.wsp"
    path.write_text(wsp(population))
    with pytest.raises(StrategyError, match=match) as info:
        read_wsp(path)
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message, message
    assert "population /" in message, message


def test_malformed_wsp_sample_count_is_a_strategy_error(tmp_path):
    path = tmp_path / "bad.wsp"
    path.write_text(wsp(wsp_population("A")).replace('count="10"', 'count="many"'))
    with pytest.raises(StrategyError, match=r"sample 'a.fcs'.*'many' is not a number") as info:
        read_wsp(path)
    assert str(info.value).startswith(str(path))


# -- through the command line --------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile_xml")
    files = {}
    for kind in ("xxe", "billion-laughs"):
        (folder / f"{kind}.xml").write_text(_hostile_gatingml(kind))
        (folder / f"{kind}.wsp").write_text(_hostile_wsp(kind))
        files[kind] = (folder / f"{kind}.xml", folder / f"{kind}.wsp")
    files["fcs"] = small_fcs(folder / "s1.fcs")
    return folder, files


def test_cli_refuses_hostile_xml_with_exit_2(hostile_files):
    """validate, convert (Gating-ML and .wsp) and run: exit 2, one line, nothing written."""
    folder, files = hostile_files
    line = assert_clean_refusal(run_cli("validate", files["xxe"][0]))
    assert "unsafe XML" in line and str(files["xxe"][0]) in line
    assert_clean_refusal(run_cli("convert", files["billion-laughs"][0], folder / "out.yaml"))
    assert_clean_refusal(run_cli("convert", files["xxe"][1], folder / "wsp.yaml"))
    out = folder / "run"
    assert_clean_refusal(run_cli("run", files["billion-laughs"][0], files["fcs"], "--out", out, "--no-progress"))
    assert not (out / "counts.csv").exists()
    assert not (folder / "out.yaml").exists() and not (folder / "wsp.yaml").exists()
