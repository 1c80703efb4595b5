"""Per-sample gate overrides: the file format, and `cytogate run --overrides` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import cytogate
from cytogate.batch import BatchOptions, run_batch
from cytogate.cli import main
from cytogate.errors import StrategyError
from cytogate.strategy.overrides import load_overrides, template_geometry

ROOT = Path(__file__).resolve().parents[2]
FCS = ROOT / "sample_fcs"
_SHIPPED = ROOT / "gating_strategies"


def _with_numeric_debris_fallback() -> Path:
    """The lupus panel with its debris cut's fallback a fixed number, which ``gate: template`` pins.

    The shipped panel's fallbacks are themselves located on the data, so they have no fixed
    template geometry; these tests need one.
    """
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="cytogate-overrides-"))
    for f in _SHIPPED.glob("*.yaml"):
        shutil.copy(f, folder / f.name)
    text = (folder / "lupus_pd.yaml").read_text()
    shipped_cut = "range: {FSC-A: {min: {density_valley: {quantile_bounds: [0, 0.2], otherwise: {quantile: {q: 0}}}}}}"
    assert shipped_cut in text, "the shipped debris gate changed: update this test"
    (folder / "lupus_pd.yaml").write_text(text.replace(
        shipped_cut, "range: {FSC-A: {min: {density_valley: {bounds: [15000, 45000], fallback: 28000}}}}"))
    return folder / "lupus_pd.yaml"


STRATEGY = _with_numeric_debris_fallback()
B_CELLS = "/Cells/Singlets/Live/Lymphocytes/B cells"
INPUTS = [FCS / "S001_BL.fcs", FCS / "S001_W24.fcs", FCS / "S002_BL.fcs"]


def _entry(sample: str = "S001_W24", population: str = B_CELLS,
           gate: str = "{rectangle: {CD3: {max: 0.40}, CD19: {min: 0.55}}}", **extra: str) -> str:
    fields = {"sample": sample, "population": population, "gate": gate,
              "reason": "CD19 dim on this tube; gate moved to the valley", "author": "jdoe", "date": "2026-12-01"}
    fields.update(extra)
    return "  - " + "\n    ".join(f"{k}: {v}" for k, v in fields.items() if v is not None) + "\n"


def _write(tmp_path: Path, *entries: str, head: str = "cytogate_overrides: 1\noverrides:\n") -> Path:
    path = tmp_path / "review.yaml"
    path.write_text(head + "".join(entries))
    return path


@pytest.mark.parametrize(("text", "message"), [
    ("cytogate_overrides: 2\noverrides: []\n", r"review.yaml:1:\d+: unsupported cytogate_overrides version 2"),
    ("overrides: []\n", "first key must be 'cytogate_overrides: 1'"),
    ("cytogate_overrides: 1\noverride: []\n", r"review.yaml:2:1: unknown key 'override'.*did you mean 'overrides'"),
    ("cytogate_overrides: 1\noverrides:\n" + _entry(reason=None), r"review.yaml:3:5: an override needs 'reason'"),
    ("cytogate_overrides: 1\noverrides:\n" + _entry(date="next week"), r"review.yaml:8:11: date .* not an ISO date"),
    ("cytogate_overrides: 1\noverrides:\n" + _entry(population="B cells"), "must be its path from the root"),
    ("cytogate_overrides: 1\noverrides:\n" + _entry(gate="[1, 2]"), "gate must be a gate mapping"),
])
def test_malformed_files_name_line_and_column(tmp_path, text, message):
    path = tmp_path / "review.yaml"
    path.write_text(text)
    with pytest.raises(StrategyError, match=message):
        load_overrides(path)


def test_overrides_are_checked_against_strategy_and_samples(tmp_path):
    strategy = cytogate.load_strategy(STRATEGY)
    samples = ["S001_BL", "S001_W24"]
    with pytest.raises(StrategyError, match=r"review.yaml:3:5: override names sample 'S001_W42'.*'S001_W24'"):
        load_overrides(_write(tmp_path, _entry(sample="S001_W42"))).resolve(strategy, samples)
    with pytest.raises(StrategyError, match="population '/Cells/B cells', which the strategy does not have"):
        load_overrides(_write(tmp_path, _entry(population="/Cells/B cells"))).resolve(strategy, samples)
    with pytest.raises(StrategyError, match="overridden twice"):
        load_overrides(_write(tmp_path, _entry(), _entry())).resolve(strategy, samples)
    with pytest.raises(StrategyError, match=r"review.yaml:\d+:\d+: .*unknown gate|has no gate|one gate key"):
        load_overrides(_write(tmp_path, _entry(gate="{rectangel: {CD3: {max: 0.4}}}"))).resolve(strategy, samples)
    with pytest.raises(StrategyError, match="cannot override one population"):
        load_overrides(_write(tmp_path, _entry(gate="{and: [/Cells, /Cells]}"))).resolve(strategy, samples)


def test_override_reads_dimensions_like_the_template_gate(tmp_path):
    strategy = cytogate.load_strategy(STRATEGY)
    resolved = load_overrides(_write(tmp_path, _entry())).resolve(strategy, ["S001_W24"])["S001_W24"]
    gate = resolved.gates[B_CELLS]
    template = strategy.by_path[B_CELLS].gate
    assert gate.dimensions == template.dimensions  # same compensation and logicle as the strategy's
    assert (gate.mins, gate.maxs) == ((None, 0.55), (0.4, None))
    applied = resolved.apply(strategy)
    assert applied.by_path[B_CELLS].gate == gate
    assert [p.gate for p in applied.populations if p.path != B_CELLS] == [
        p.gate for p in strategy.populations if p.path != B_CELLS]


def test_template_pins_a_data_driven_gate_at_its_fallbacks():
    strategy = cytogate.load_strategy(STRATEGY)
    cells = template_geometry(strategy.by_path["/Cells"].gate)
    assert cells.kind == "rectangle" and cells.mins == (28000.0,)
    b_cells = template_geometry(strategy.by_path[B_CELLS].gate)  # lineage cuts located on the data: fallbacks
    assert b_cells.kind == "rectangle" and b_cells.mins == (None, 0.45) and b_cells.maxs == (0.45, None)
    assert not b_cells.needs_fit and template_geometry(b_cells) is b_cells  # a static gate is its own template
    with pytest.raises(StrategyError, match="singlet gate has no template geometry"):
        template_geometry(strategy.by_path["/Cells/Singlets"].gate)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    run = tmp_path_factory.mktemp("plain") / "run"
    run_batch(STRATEGY, INPUTS, run, options=BatchOptions(workers=1, progress=False))
    return pd.read_csv(run / "counts.csv")


def test_run_changes_only_the_overridden_population_and_its_descendants(tmp_path, baseline):
    review = _write(tmp_path, _entry(), _entry(sample="S002_BL", population="/Cells", gate="template",
                                               reason="pin the debris cut at the template"))
    run = tmp_path / "run"
    assert main(["-q", "run", str(STRATEGY), *map(str, INPUTS), "--out", str(run), "--overrides", str(review),
                 "--workers", "1"]) == 0
    counts = pd.read_csv(run / "counts.csv")
    key = ["sample", "population"]
    merged = counts.merge(baseline, on=key, suffixes=("", "_before"))
    changed = merged[merged["count"] != merged["count_before"]]
    w24 = changed[changed["sample"] == "S001_W24"]
    assert set(w24.population) and all(p == B_CELLS or p.startswith(B_CELLS + "/") for p in w24.population)
    assert not len(changed[changed["sample"] == "S001_BL"])
    bl2 = changed[changed["sample"] == "S002_BL"]
    assert all(p.startswith("/Cells") for p in bl2.population)
    sources = dict(zip(zip(counts["sample"], counts["population"]), counts["gate_source"]))
    assert sources[("S001_W24", B_CELLS)] == "override" and sources[("S001_BL", B_CELLS)] == "fitted"
    assert sources[("S002_BL", "/Cells")] == "override" and sources[("S001_BL", "/Cells")] == "fitted"
    assert sources[("S001_W24", B_CELLS + "/CD268+ B")] == "fitted"  # descendants keep their own gates
    gates = json.loads((run / "gates.json").read_text())["samples"]
    assert gates["S002_BL"]["/Cells"] == {"source": "override", "gate": {
        "kind": "rectangle", "dimensions": [{"name": "FSC-A", "compensation": "uncompensated"}],
        "mins": [28000.0], "maxs": [None]}}
    manifest = json.loads((run / "manifest.json").read_text())
    import hashlib

    assert manifest["overrides"]["sha256"] == hashlib.sha256(review.read_bytes()).hexdigest()
    applied = manifest["overrides"]["applied"]
    assert [(a["sample"], a["population"], a["author"], a["date"]) for a in applied] == [
        ("S001_W24", B_CELLS, "jdoe", "2026-12-01"), ("S002_BL", "/Cells", "jdoe", "2026-12-01")]
    assert applied[1]["reason"] == "pin the debris cut at the template"
    fits = pd.read_parquet(run / "fits.parquet")
    overridden = fits[fits["status"] == "override"]
    assert sorted(zip(overridden["sample"], overridden["population"])) == [("S001_W24", B_CELLS), ("S002_BL", "/Cells")]
    assert "pin the debris cut at the template (jdoe, 2026-12-01)" in set(overridden["reason"])
    assert not len(fits[(fits["sample"] == "S002_BL") & (fits["population"] == "/Cells") & (fits["status"] == "fitted")])
    assert manifest["fits"]["overrides"] == 2 and manifest["fits"]["populations"]["/Cells"]["overrides"] == 1


def test_resume_recomputes_exactly_the_samples_whose_overrides_changed(tmp_path):
    run = tmp_path / "run"
    options = BatchOptions(workers=1, progress=False)
    first = _write(tmp_path, _entry())
    run_batch(STRATEGY, INPUTS, run, options=BatchOptions(workers=1, progress=False, overrides=first))
    changed = _write(tmp_path, _entry(gate="{rectangle: {CD3: {max: 0.40}, CD19: {min: 0.60}}}"))
    result = run_batch(STRATEGY, INPUTS, run, options=BatchOptions(workers=1, progress=False, overrides=changed))
    reused = {e["sample"]: e["reused"] for e in result.manifest["inputs"]}
    assert reused == {"S001_BL": True, "S001_W24": False, "S002_BL": True}
    again = run_batch(STRATEGY, INPUTS, run, options=BatchOptions(workers=1, progress=False, overrides=changed))
    assert all(e["reused"] for e in again.manifest["inputs"])
    dropped = run_batch(STRATEGY, INPUTS, run, options=options)  # without the overrides: back to the template
    assert {e["sample"]: e["reused"] for e in dropped.manifest["inputs"]}["S001_W24"] is False
    assert dropped.manifest["overrides"] is None


def test_unknown_sample_is_exit_2_and_nothing_is_written(tmp_path, capsys):
    review = _write(tmp_path, _entry(sample="S009_BL"))
    run = tmp_path / "run"
    assert main(["run", str(STRATEGY), *map(str, INPUTS), "--out", str(run), "--overrides", str(review)]) == 2
    err = capsys.readouterr().err
    assert "override names sample 'S009_BL', which is not in this run" in err and "review.yaml:3:5" in err
    assert not run.exists()


def test_report_marks_overridden_gates(tmp_path):
    from cytogate.report.build import build_report

    review = _write(tmp_path, _entry())
    run = tmp_path / "run"
    run_batch(STRATEGY, INPUTS[:2], run, options=BatchOptions(workers=1, progress=False, overrides=review))
    html = build_report(run, max_samples_with_plots=2, workers=1).read_text(encoding="utf-8")
    assert f"{B_CELLS}: gate overridden for this sample" in html
    assert "re-gated counts differ" not in html


def test_strategy_level_overrides_and_the_option_that_replaces_them(tmp_path, caplog):
    _write(tmp_path, _entry())  # tmp_path/review.yaml, named by the strategy below
    folder = tmp_path / "strategy"
    folder.mkdir()
    for f in STRATEGY.parent.glob("*.yaml"):
        (folder / f.name).write_text(f.read_text())
    strategy = folder / "lupus_pd.yaml"
    text = strategy.read_text()
    strategy.write_text(text.replace("\npopulations:", "\noverrides: ../review.yaml   # relative to this file\n"
                                                      "populations:", 1))
    assert cytogate.load_strategy(strategy).overrides == str(folder / "../review.yaml")
    run = tmp_path / "run"
    result = run_batch(strategy, INPUTS, run, options=BatchOptions(workers=1, progress=False))
    assert [a["sample"] for a in result.manifest["overrides"]["applied"]] == ["S001_W24"]
    sources = pd.read_csv(run / "counts.csv").set_index(["sample", "population"])["gate_source"]
    assert sources[("S001_W24", B_CELLS)] == "override"
    other = _write(tmp_path / "strategy", _entry(sample="S002_BL"))  # --overrides replaces the strategy's file
    with caplog.at_level("WARNING", logger="cytogate.batch"):
        result = run_batch(strategy, INPUTS, tmp_path / "run2",
                           options=BatchOptions(workers=1, progress=False, overrides=other))
    assert [a["sample"] for a in result.manifest["overrides"]["applied"]] == ["S002_BL"]
    assert any("replaces the strategy's overrides file" in r.getMessage() for r in caplog.records)
    strategy.write_text(text.replace("\npopulations:", "\noverrides: missing.yaml\npopulations:", 1))
    with pytest.raises(StrategyError, match="cannot read overrides file"):
        run_batch(strategy, INPUTS, tmp_path / "run3", options=BatchOptions(workers=1, progress=False))
