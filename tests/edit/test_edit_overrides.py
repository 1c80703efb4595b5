"""The editor writes per-sample overrides (``--overrides FILE``) that ``cytogate run --overrides`` applies as shown."""
# ruff: noqa: F811  (the fixtures imported from edit_helpers are taken as test arguments)

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pandas as pd
import pytest
from edit_helpers import EDIT_STRATEGY, samples, strategy_file  # noqa: F401 (pytest fixtures, used as arguments)

from cytogate.cli import main
from cytogate.edit.app import create_app
from cytogate.edit.session import EditorSession, EditRefused
from cytogate.strategy.overrides import load_overrides

TOKEN = "review-token"
LEUK = "/Cells/Leukocytes"
T_CELLS = "/Cells/Leukocytes/T cells"
WHO = {"reason": "CD45 dim on this tube", "author": "jdoe", "date": "2026-12-07"}


@pytest.fixture
def review_file(tmp_path: Path) -> Path:
    return tmp_path / "review.yaml"  # does not exist yet: written on the first save


@pytest.fixture
def client(strategy_file: Path, samples: list[Path], review_file: Path):
    from starlette.testclient import TestClient

    with TestClient(create_app(EditorSession(strategy_file, samples, overrides_path=review_file), TOKEN)) as c:
        yield c


def url(route: str) -> str:
    return f"{route}?token={TOKEN}"


def ov_url(path: str) -> str:
    return url("/api/overrides/" + quote(path, safe=""))


def by_path(listing: list[dict]) -> dict[str, dict]:
    return {p["path"]: p for p in listing}


def test_an_override_changes_only_the_sample_on_screen_and_run_reproduces_it(
        client, strategy_file, samples, review_file, tmp_path):
    assert not client.get(url("/api/state")).json()["modified"]  # no override yet: nothing to save
    before = by_path(client.get(url("/api/populations")).json())
    assert before[LEUK]["source"] == "template" and before[LEUK]["override"] is None
    assert before[T_CELLS]["source"] == "fitted"
    answer = client.put(ov_url(LEUK), json={"gate": {"range": {"CD45": {"min": 0.55}}}, **WHO})
    assert answer.status_code == 200, answer.text
    first = by_path(answer.json())
    assert first[LEUK]["source"] == "override" and first[LEUK]["count"] < before[LEUK]["count"]
    assert first[LEUK]["override"] == {"gate": {"range": {"CD45": {"min": 0.55}}}, **WHO}
    assert first[LEUK]["gate"] == before[LEUK]["gate"]  # the template is unchanged ...
    assert first[LEUK]["template_here"] == {"range": {"CD45": {"min": 0.4}}}  # ... and shown beside it
    assert client.get(url("/api/yaml")).json()["text"] == EDIT_STRATEGY
    # a data-driven gate overridden where it landed, moved a little
    at = first[T_CELLS]["template_here"]["range"]["CD3"]["min"]
    assert at == pytest.approx(first[T_CELLS]["fitted"]["mins"][0], rel=1e-5)
    second = client.put(ov_url(T_CELLS), json={"gate": {"range": {"CD3": {"min": round(at + 0.02, 4)}}}, **WHO})
    assert second.status_code == 200, second.text
    shown = {0: by_path(second.json())}
    assert shown[0][T_CELLS]["source"] == "override" and shown[0][T_CELLS]["fitted"] is None
    other = by_path(client.post(url("/api/sample"), json={"index": 1}).json())
    assert other[LEUK]["source"] == "template" and other[T_CELLS]["source"] == "fitted"
    shown[1] = other
    saved = client.post(url("/api/save")).json()
    assert saved["overrides"] == str(review_file) and not saved["state"]["modified"]
    assert strategy_file.read_text(encoding="utf-8") == EDIT_STRATEGY  # a review never rewrites the template
    entries = load_overrides(review_file).entries
    assert [(e.sample, e.population, e.author, e.date) for e in entries] == [
        ("S001_BL", LEUK, "jdoe", "2026-12-07"), ("S001_BL", T_CELLS, "jdoe", "2026-12-07")]

    out = tmp_path / "run"
    assert main(["run", str(strategy_file), *map(str, samples), "--out", str(out), "--overrides",
                 str(review_file)]) == 0
    counts = pd.read_csv(out / "counts.csv")
    for index, sample in enumerate(("S001_BL", "S002_W24")):
        rows = counts[counts["sample"] == sample].set_index("population")
        for path, pop in shown[index].items():
            assert rows.loc[path, "count"] == pop["count"], (sample, path)
            assert rows.loc[path, "gate_source"] == pop["source"], (sample, path)


def test_refused_overrides_change_nothing(client):
    listing = client.get(url("/api/populations")).json()
    missing = client.put(ov_url(LEUK), json={"gate": {"range": {"CD45": {"min": 0.5}}}, "author": "jdoe"})
    assert missing.status_code == 422 and "reason" in missing.json()["error"]
    bad_date = client.put(ov_url(LEUK), json={"gate": {"range": {"CD45": {"min": 0.5}}}, **WHO, "date": "7/12/26"})
    assert bad_date.status_code == 422 and "ISO date" in bad_date.json()["error"]
    quadrant = client.put(ov_url("/Cells/Leukocytes/T cells/CD4 T"), json={"gate": {"quadrant": {
        "dividers": {"CD4": 0.5, "CD8": 0.5}}}, **WHO})
    assert quadrant.status_code == 422 and "cannot override one population" in quadrant.json()["error"]
    off_axis = client.put(ov_url(LEUK), json={"gate": {"range": {"CD45": {"min": 7.0}}}, **WHO})
    assert off_axis.status_code == 422 and "outside the axis" in off_axis.json()["error"]
    unknown = client.put(ov_url("/Cells/Nope"), json={"gate": "template", **WHO})
    assert unknown.status_code == 422
    assert client.get(url("/api/populations")).json() == listing
    assert "overrides: []" in client.get(url("/api/overrides")).json()["text"]


def test_undo_remove_and_template_edits_with_overrides(strategy_file, samples, review_file):
    session = EditorSession(strategy_file, samples, overrides_path=review_file)
    template_count = by_path(session.populations())[T_CELLS]["count"]
    pinned = by_path(session.set_override(T_CELLS, "template", **WHO))  # the fallback 0.45, on this sample
    assert pinned[T_CELLS]["source"] == "override" and pinned[T_CELLS]["override"]["gate"] == "template"
    activated = T_CELLS + "/CD4 T/Activated"
    session.set_override(activated, {"rectangle": {"CD25": {"min": 0.4}, "HLA-DR": {"min": 0.4}}}, **WHO)
    with pytest.raises(EditRefused, match="which the strategy does not have"):
        session.delete(activated)  # its override would name a population the template lacks
    assert activated in by_path(session.undo())  # the override of Activated undone, the template intact
    assert by_path(session.undo())[T_CELLS]["count"] == template_count
    assert "overrides: []" in session.review_text
    session.redo()
    assert "population: /Cells/Leukocytes/T cells\n" in session.review_text
    after = by_path(session.remove_override(T_CELLS))
    assert after[T_CELLS]["source"] == "fitted" and after[T_CELLS]["count"] == template_count
    with pytest.raises(EditRefused, match="no override"):
        session.remove_override(T_CELLS)


def test_without_an_overrides_file_the_editor_says_how_to_get_one(strategy_file, samples):
    session = EditorSession(strategy_file, samples[:1])
    with pytest.raises(EditRefused, match="--overrides FILE"):
        session.set_override(LEUK, {"range": {"CD45": {"min": 0.5}}}, **WHO)
    assert "override" not in session.populations()[0]


def test_an_existing_overrides_file_keeps_its_other_entries_as_written(strategy_file, samples, review_file):
    review_file.write_text("cytogate_overrides: 1\noverrides:\n  # from the first review\n"
                           "  - {sample: S002_W24, population: /Cells/Leukocytes, gate: template, reason: ok,"
                           " author: amy, date: 2026-11-30}\n", encoding="utf-8")
    session = EditorSession(strategy_file, samples, overrides_path=review_file)
    session.set_override(LEUK, {"range": {"CD45": {"min": 0.5}}}, **WHO)
    session.save()
    text = review_file.read_text(encoding="utf-8")
    assert "  # from the first review\n  - {sample: S002_W24, population: /Cells/Leukocytes, gate: template, " \
           "reason: ok, author: amy, date: 2026-11-30}\n" in text
    assert [e.sample for e in load_overrides(review_file).entries] == ["S002_W24", "S001_BL"]


def test_the_strategys_overrides_file_is_the_default(strategy_file, samples):
    strategy_file.write_text(EDIT_STRATEGY.replace("\npopulations:", "\noverrides: reviews/r.yaml\npopulations:"))
    session = EditorSession(strategy_file, samples[:1])
    assert session.overrides_path == strategy_file.parent / "reviews" / "r.yaml"
    (strategy_file.parent / "reviews").mkdir()
    session.set_override(LEUK, {"range": {"CD45": {"min": 0.5}}}, **WHO)
    session.save()
    assert [e.population for e in load_overrides(strategy_file.parent / "reviews" / "r.yaml").entries] == [LEUK]
