"""Template following per panel of a study: ``follow: {PANEL: REF.fcs}`` in a ``cytogate_study: 1`` file."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("SimpleITK", reason="template following needs the 'follow' extra")
pytest.importorskip("skimage", reason="template following needs the 'follow' extra")
from follow_helpers import TEMPLATE

from cytogate.batch import BatchOptions, run_batch
from cytogate.cli import main
from cytogate.synth import synthesize_sample
from cytogate.synth.trial import synthesize_trial

ROOT = Path(__file__).resolve().parents[2]
OPTIONS = BatchOptions(workers=1, progress=False, stats=False)


def make_followed_study(folder: Path, *, follow: str = "follow: {lupus_pd: refs/reference.fcs}\n") -> Path:
    """Two panels of a small trial; the ``lupus_pd`` panel's 12 static gates follow a reference of their own."""
    synthesize_trial(folder / "fcs", arms={"Placebo": 1, "0.45 mg": 1}, visits=("Baseline", "Week 24"),
                     days=(1, 169), n_events=6000, seed=3, panel=["lupus_pd", "t_cell"], workers=1)
    (folder / "refs").mkdir()
    synthesize_sample("lupus_pd", 20_000, seed=1).write(folder / "refs" / "reference.fcs")
    shutil.copy(TEMPLATE, folder / "template.yaml")
    study = folder / "study.yaml"
    study.write_text("cytogate_study: 1\nname: followed panel\nsamples: fcs/samples.csv\npanel_column: panel\n"
                     f"panels:\n  lupus_pd: template.yaml\n  t_cell: {ROOT / 'gating_strategies' / 't_cells.yaml'}\n"
                     + follow)
    return study


@pytest.fixture(scope="module")
def followed_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("study")
    study = make_followed_study(folder)
    result = run_batch(study, [], folder / "out", options=OPTIONS)
    return folder, study, result


def test_only_the_followed_panel_follows(followed_run):
    folder, _, result = followed_run
    assert result.exit_code == 0
    counts = pd.read_csv(folder / "out" / "counts.csv")
    sources = counts.groupby("panel")["gate_source"].agg(set).to_dict()
    assert "followed" in sources["lupus_pd"]
    assert "followed" not in sources["t_cell"]  # its data-driven gates are fitted as usual
    fits = pd.read_parquet(folder / "out" / "fits.parquet")
    followed_samples = set(fits.loc[fits["rule"] == "template following", "sample"])
    assert followed_samples == set(counts.loc[counts["panel"] == "lupus_pd", "sample"])


def test_the_manifest_records_each_followed_panel(followed_run):
    folder, _, result = followed_run
    manifest = json.loads((folder / "out" / "manifest.json").read_text())
    block = manifest["follow"]
    assert list(block["panels"]) == ["lupus_pd"]
    panel = block["panels"]["lupus_pd"]
    reference = folder / "refs" / "reference.fcs"
    assert panel["reference"] == str(reference)
    assert panel["reference_sha256"] == hashlib.sha256(reference.read_bytes()).hexdigest()
    assert panel["settings"]["method"] == "affine+tvl1"
    assert panel["followed"] + panel["fallback"] + panel["template"] == 12 * 4  # 4 files x 12 gates
    assert block["followed"] == panel["followed"] and manifest["study"]["follow"] == {"lupus_pd": str(reference)}


def test_resume_reuses_every_sample_and_a_new_reference_recomputes_its_panel_only(followed_run, tmp_path):
    folder, study, _ = followed_run
    out = tmp_path / "out"
    shutil.copytree(folder / "out", out)
    again = run_batch(study, [], out, options=OPTIONS)
    assert again.summary.cached == 8
    assert (out / "counts.csv").read_bytes() == (folder / "out" / "counts.csv").read_bytes()
    reference = folder / "refs" / "reference.fcs"
    original = reference.read_bytes()
    try:
        synthesize_sample("lupus_pd", 20_000, seed=2).write(reference)
        third = run_batch(study, [], out, options=OPTIONS)
    finally:
        reference.write_bytes(original)
    reused = {e["sample"] for e in third.manifest["inputs"] if e["reused"]}
    assert reused == {e["sample"] for e in third.manifest["inputs"] if e["panel"] == "t_cell"}


def test_no_follow_gates_every_panel_with_its_static_gates(followed_run, tmp_path):
    _, study, _ = followed_run
    result = run_batch(study, [], tmp_path / "out", options=BatchOptions(workers=1, progress=False, stats=False,
                                                                         no_follow=True))
    counts = pd.read_csv(tmp_path / "out" / "counts.csv")
    assert "followed" not in set(counts["gate_source"]) and "follow" not in result.manifest


def test_a_bad_reference_is_one_error_naming_the_panel(tmp_path, capsys):
    study = make_followed_study(tmp_path, follow="follow: {lupus_pd: fcs/S001_BL_t_cell.fcs}\n")
    code = main(["-q", "run", str(study), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "panel 'lupus_pd', follow reference: the reference" in err and "lacks" in err
    assert not (tmp_path / "out").exists()
    (tmp_path / "fcs" / "broken.fcs").write_bytes(b"not an FCS file at all")
    study.write_text(study.read_text().replace("fcs/S001_BL_t_cell.fcs", "fcs/broken.fcs"))
    code = main(["-q", "run", str(study), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "panel 'lupus_pd', follow reference" in err and not (tmp_path / "out").exists()


def test_two_workers_give_the_same_tables(followed_run, tmp_path):
    folder, study, _ = followed_run
    run_batch(study, [], tmp_path / "out", options=BatchOptions(workers=2, progress=False, stats=False))
    for name in ("counts.csv", "gates.json"):
        assert (tmp_path / "out" / name).read_bytes() == (folder / "out" / name).read_bytes(), name
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out" / "fits.parquet"),
                                  pd.read_parquet(folder / "out" / "fits.parquet"))


def test_a_dask_cluster_gives_the_same_tables(followed_run, tmp_path):
    """Each task ships its own panel's reference to the cluster's workers."""
    distributed = pytest.importorskip("distributed")
    folder, study, _ = followed_run
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=40) as cluster:
        result = run_batch(study, [], tmp_path / "out",
                           options=BatchOptions(scheduler=cluster.scheduler_address, progress=False, stats=False))
    assert result.exit_code == 0 and result.manifest["runner"].startswith("dask")
    for name in ("counts.csv", "gates.json"):
        assert (tmp_path / "out" / name).read_bytes() == (folder / "out" / name).read_bytes(), name
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out" / "fits.parquet"),
                                  pd.read_parquet(folder / "out" / "fits.parquet"))
    assert result.manifest["follow"]["panels"].keys() == {"lupus_pd"}


def test_the_report_regates_each_followed_panel_with_its_reference(followed_run):
    pytest.importorskip("matplotlib")
    from cytogate.report import build_report

    folder, _, _ = followed_run
    html = build_report(folder / "out", out=folder / "report.html", workers=1).read_text()
    assert "re-gated counts differ" not in html  # static re-gating of the followed panel would differ
