"""The editor's JSON API without a browser (Starlette's TestClient): token, edits, refusals, saving."""
# ruff: noqa: F811  (the fixtures imported from edit_helpers are taken as test arguments)

from __future__ import annotations

import difflib
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import pytest
from edit_helpers import EDIT_STRATEGY, samples, strategy_file, t_cells_file  # noqa: F401 (pytest fixtures, used as arguments)

from cytogate import gate, load_strategy, read_fcs
from cytogate.cli import main
from cytogate.edit.app import create_app
from cytogate.edit.session import EditorSession
from cytogate.strategy.yaml_format import load_yaml_strategy

TOKEN = "test-token-123"


@pytest.fixture
def client(strategy_file: Path, samples: list[Path]):
    from starlette.testclient import TestClient

    with TestClient(create_app(EditorSession(strategy_file, samples), TOKEN)) as c:
        yield c


def url(route: str, **query: str) -> str:
    extra = "".join(f"&{k}={quote(v)}" for k, v in query.items())
    return f"{route}?token={TOKEN}{extra}"


def pop_url(path: str) -> str:
    return url("/api/populations/" + quote(path, safe=""))


def by_path(listing: list[dict]) -> dict[str, dict]:
    return {p["path"]: p for p in listing}


def diff_lines(before: str, after: str) -> list[str]:
    return [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_every_request_without_the_token_is_refused(client):
    for path in ("/", "/static/editor.js", "/api/populations", "/api/state", "/api/plot?path=/Cells"):
        assert client.get(path).status_code == 403
        assert client.get(path + ("&" if "?" in path else "?") + "token=wrong").status_code == 403
    assert client.put("/api/populations/Cells", json={"gate": {}}).status_code == 403
    assert client.post("/api/save").status_code == 403
    page = client.get(url("/"))
    assert page.status_code == 200 and TOKEN in page.text and "editor.js" in page.text
    assert client.get(url("/static/editor.js")).headers["content-type"].startswith("text/javascript")


def test_listing_counts_are_the_engines(client, strategy_file, samples):
    listing = client.get(url("/api/populations")).json()
    result = gate(load_strategy(strategy_file), read_fcs(samples[0]))
    assert [p["path"] for p in listing] == list(result.strategy.paths)
    for p in listing:
        assert p["count"] == result.count(p["path"])
        assert p["parent_count"] == result.count(p["parent"])
    pops = by_path(listing)
    assert pops["/Cells/Leukocytes"]["gate"] == {"range": {"CD45": {"min": 0.4}}}
    assert pops["/Cells/Leukocytes/T cells/CD4 T"]["key"] == "T subsets"
    t_cells = pops["/Cells/Leukocytes/T cells"]
    assert t_cells["data_driven"] and t_cells["fitted"]["mins"][0] == pytest.approx(
        result.fitted["/Cells/Leukocytes/T cells"]["mins"][0])


def test_put_recomputes_and_save_writes_only_that_line(client, strategy_file, samples, tmp_path):
    before = by_path(client.get(url("/api/populations")).json())
    edited = client.put(pop_url("/Cells/Leukocytes"), json={"gate": {"range": {"CD45": {"min": 0.6}}}})
    assert edited.status_code == 200
    after = by_path(edited.json())
    assert after["/Cells/Leukocytes"]["count"] < before["/Cells/Leukocytes"]["count"]
    assert after["/Cells"]["count"] == before["/Cells"]["count"]
    assert strategy_file.read_text() == EDIT_STRATEGY  # nothing written before save
    saved = client.post(url("/api/save"))
    assert saved.status_code == 200 and saved.json()["path"] == str(strategy_file)
    text = strategy_file.read_text()
    assert diff_lines(EDIT_STRATEGY, text) == ["-    range: {CD45: {min: 0.4}}      # CD45+ (static)",
                                               "+    range: {CD45: {min: 0.6}}      # CD45+ (static)"]
    # `cytogate run` on the saved file gives the counts the editor showed, on every sample
    client.post(url("/api/sample"), json={"index": 1})
    shown = {1: by_path(client.get(url("/api/populations")).json())}
    client.post(url("/api/sample"), json={"index": 0})
    shown[0] = by_path(client.get(url("/api/populations")).json())
    out = tmp_path / "run"
    assert main(["-q", "run", str(strategy_file), *map(str, samples), "--out", str(out), "--workers", "1",
                 "--no-stats", "--no-progress"]) == 0
    counts = pd.read_csv(out / "counts.csv")
    for index, sample in enumerate(samples):
        rows = counts[counts["file"].str.endswith(sample.name)]
        assert len(rows) == len(shown[index])
        for row in rows.itertuples():
            assert shown[index][row.population]["count"] == row.count, (sample.name, row.population)


def test_invalid_edits_are_refused_and_never_written(client, strategy_file):
    before = client.get(url("/api/populations")).json()
    cases = [
        ({"polygon": {"x": "FSC-A", "y": "SSC-A", "vertices": [[0, 0], [9e4, 9e4], [9e4, 0], [0, 9e4]]}}, "cross"),
        ({"range": {"CD45": {"min": 7.5}}}, "outside the axis"),
        ({"range": {"CD45": {"min": 0.8, "max": 0.2}}}, "not below max"),
        ({"range": {"NoSuchMarker": {"min": 0.5}}}, "NoSuchMarker"),
        ({"range": {"CD45": {"min": "valley_of_doom"}}}, "unknown threshold"),
        ({"two": 1, "kinds": 2}, "one mapping"),
    ]
    for bad, message in cases:
        target = "/Cells" if "polygon" in bad else "/Cells/Leukocytes"
        answer = client.put(pop_url(target), json={"gate": bad})
        assert answer.status_code == 422, bad
        assert message in answer.json()["error"], (bad, answer.json())
    assert client.get(url("/api/populations")).json() == before
    assert client.get(url("/api/state")).json()["can_undo"] is False
    assert client.post(url("/api/save")).status_code == 200
    assert strategy_file.read_text() == EDIT_STRATEGY
    assert client.put(pop_url("/Nope"), json={"gate": {"range": {"CD45": {"min": 0.5}}}}).status_code == 422
    assert client.put(pop_url("/Cells"), content=b"not json").status_code == 422


def test_make_static_rename_add_delete_undo_redo(client, strategy_file):
    pops = by_path(client.get(url("/api/populations")).json())
    fitted = pops["/Cells/Leukocytes/T cells"]["fitted"]["mins"][0]
    count = pops["/Cells/Leukocytes/T cells"]["count"]
    made = by_path(client.post(url("/api/static/" + quote("/Cells/Leukocytes/T cells", safe=""))).json())
    static = made["/Cells/Leukocytes/T cells"]
    assert not static["data_driven"]
    assert static["gate"]["range"]["CD3"]["min"] == pytest.approx(fitted, rel=1e-5)
    assert abs(static["count"] - count) <= 2  # 6 significant digits of the fitted cut
    renamed = by_path(client.put(pop_url("/Cells/Leukocytes/T cells/CD4 T"), json={"name": "Helper T"}).json())
    assert "/Cells/Leukocytes/T cells/Helper T/Activated" in renamed
    added = client.post(url("/api/populations"), json={
        "parent": "/Cells/Leukocytes", "name": "B cells", "gate": {"range": {"CD19": {"min": 0.5}}}})
    assert added.status_code == 201 and "/Cells/Leukocytes/B cells" in by_path(added.json())
    gone = by_path(client.delete(pop_url("/Cells/Leukocytes/T cells/CD8 T")).json())
    assert "/Cells/Leukocytes/T cells/CD8 T" not in gone and "/Cells/Leukocytes/T cells/Helper T" in gone
    for _ in range(4):
        assert client.post(url("/api/undo")).status_code == 200
    assert client.post(url("/api/undo")).status_code == 422  # nothing left to undo
    assert by_path(client.get(url("/api/populations")).json()) == pops
    client.post(url("/api/redo"))
    client.post(url("/api/save"))
    text = strategy_file.read_text()
    lines = diff_lines(EDIT_STRATEGY, text)
    assert lines == ["-    range: {CD3: {min: {density_valley: {bounds: [0.35, 0.58], fallback: 0.45}}}}",
                     f"+    range: {{CD3: {{min: {static['gate']['range']['CD3']['min']}}}}}"]


def test_plot_is_binned_on_the_gate_axes(client):
    plot = client.get(url("/api/plot", path="/Cells")).json()
    assert [a["label"] for a in plot["axes"]] == ["FSC-A", "SSC-A"] and plot["n_events"] == 15000
    assert plot["density"]["bins"] == 256 and plot["density"]["peak"] > 0
    hist = client.get(url("/api/plot", path="/Cells/Leukocytes")).json()
    assert hist["events_of"] == "/Cells" and sum(hist["histogram"]["counts"]) == hist["n_events"]
    assert hist["axes"][0]["transformed"] is True
    child = client.get(url("/api/plot", path="/Cells/Leukocytes", x="CD19", y="CD3")).json()
    assert child["events_of"] == "/Cells/Leukocytes" and [a["label"] for a in child["axes"]] == ["CD19", "CD3"]
    assert client.get(url("/api/plot", path="/Cells", x="NoSuch")).status_code == 422


def test_a_new_strategy_starts_from_nothing(tmp_path, samples):
    from starlette.testclient import TestClient

    path = tmp_path / "new.yaml"
    with TestClient(create_app(EditorSession(path, samples[:1]), TOKEN)) as c:
        assert c.get(url("/api/populations")).json() == []
        assert c.post(url("/api/save")).status_code == 422  # nothing drawn yet
        assert not path.exists()
        made = c.post(url("/api/populations"), json={"parent": "/", "name": "Cells", "gate": {
            "polygon": {"x": "FSC-A", "y": "SSC-A", "vertices": [[2e4, 2e3], [2e5, 2e3], [2e5, 2e5]]}}})
        assert made.status_code == 201
        assert c.post(url("/api/save")).status_code == 200
    assert load_strategy(path).paths == ("/Cells",)


def test_fitted_singlet_and_ellipse_edits(t_cells_file, samples):
    session = EditorSession(t_cells_file, samples[:1])
    singlets = "/Cells/Singlets"
    before = by_path(session.populations())[singlets]
    assert before["data_driven"] and before["fitted"]["vertices"]
    after = by_path(session.make_static(singlets))[singlets]
    assert next(iter(after["gate"])) == "polygon" and after["gate"]["polygon"]["x"] == "FSC-A"
    assert abs(after["count"] - before["count"]) <= 3  # vertices kept to 6 significant digits
    ellipse = {"ellipse": {"x": "CD45", "y": "SSC-A", "mean": [0.7, 60000],
                           "covariance": [[0.01, 0], [0, 4e8]], "distance_square": 4}}
    shown = by_path(session.set_gate("/Cells/Singlets/Live/Leukocytes", ellipse))
    fresh = gate(load_yaml_strategy(session.doc.text(), source=t_cells_file), session.gating().sample)
    assert all(p["count"] == fresh.count(path) for path, p in shown.items())
    assert shown["/Cells/Singlets/Live/Leukocytes"]["kind"] == "ellipsoid"
