"""``cytogate run --follow``: counts, gate record, manifest, cache keys, bad input, determinism."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("SimpleITK", reason="template following needs the 'follow' extra")
pytest.importorskip("skimage", reason="template following needs the 'follow' extra")
from follow_helpers import TEMPLATE

from cytogate.batch import BatchOptions, run_batch
from cytogate.cli import main
from cytogate.fcs import write_fcs
from cytogate.synth import synthesize_sample

EVENTS = 12_000
DRIFT = "fsc=0.85,ssc=1.2,CD3=0.3,CD19=4,CD4=0.3,CD8=5"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("follow_batch")
    synthesize_sample("lupus_pd", EVENTS, seed=1).write(root / "ref.fcs")
    (root / "fcs").mkdir()
    synthesize_sample("lupus_pd", EVENTS, seed=21, shift=DRIFT).write(root / "fcs" / "drifted.fcs")
    synthesize_sample("lupus_pd", EVENTS, seed=22).write(root / "fcs" / "plain.fcs")
    synthesize_sample("lupus_pd", EVENTS, seed=23, shift="fsc=1.2,CD4=3").write(root / "fcs" / "other.fcs")
    return root


def _run(files, out, **options):
    return run_batch(TEMPLATE, [str(files / "fcs")], out,
                     options=BatchOptions(progress=False, follow=str(files / "ref.fcs"), **options))


def test_followed_run_records_sources_geometry_and_reference(files, tmp_path):
    result = _run(files, tmp_path / "out", workers=1)
    assert result.exit_code == 0
    counts = pd.read_csv(tmp_path / "out" / "counts.csv")
    assert set(counts["gate_source"]) == {"followed"}
    fits = pd.read_parquet(tmp_path / "out" / "fits.parquet")
    assert set(fits["rule"]) == {"template following"} and set(fits["status"]) == {"followed"}
    # one gate per sample x population, its geometry in the rows, confidence shared by them
    per_gate = fits.groupby(["sample", "population"])["confidence"].nunique()
    assert len(per_gate) == 3 * 12 and (per_gate == 1).all()
    drifted = fits[(fits["sample"] == "drifted") & (fits["population"].str.endswith("/T cells"))]
    assert set(drifted["parameter"]) == {"CD3.min", "CD19.max"}
    assert not np.allclose(drifted["value"], drifted["template"])  # the CD3 cut moved with the dimmer stain
    gates = json.loads((tmp_path / "out" / "gates.json").read_text())
    moved = gates["samples"]["drifted"]["/Cells/Singlets/Live/Lymphocytes/T cells"]
    assert moved["source"] == "followed" and moved["gate"]["kind"] == "rectangle"
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    import hashlib

    assert manifest["follow"]["reference_sha256"] == hashlib.sha256((files / "ref.fcs").read_bytes()).hexdigest()
    assert manifest["follow"]["settings"]["method"] == "affine+tvl1"
    assert manifest["follow"]["followed"] == 36 and manifest["follow"]["fallback"] == 0
    assert manifest["fits"]["fits"] == 0  # followed gates are not counted as data-driven fits


def test_cache_key_holds_the_reference_and_settings(files, tmp_path):
    out = tmp_path / "out"
    _run(files, out, workers=1)
    again = _run(files, out, workers=1)
    assert again.summary.cached == 3
    other = tmp_path / "ref2.fcs"
    synthesize_sample("lupus_pd", EVENTS, seed=2).write(other)
    changed = run_batch(TEMPLATE, [str(files / "fcs")], out,
                        options=BatchOptions(progress=False, follow=str(other), workers=1))
    assert changed.summary.cached == 0
    static = run_batch(TEMPLATE, [str(files / "fcs")], out, options=BatchOptions(progress=False, workers=1))
    assert static.summary.cached == 0
    assert set(pd.read_csv(out / "counts.csv")["gate_source"]) == {"template"}
    assert "follow" not in json.loads((out / "manifest.json").read_text())


def _strategy_with_follow(tmp_path, files, extra=""):
    text = TEMPLATE.read_text().replace(
        "populations:\n", f"follow: {{reference: {files / 'ref.fcs'}, stiffness: 0.05{extra}}}\npopulations:\n", 1)
    text = text.replace("    range: {Live/Dead: {max: 0.61}}", "    range: {Live/Dead: {max: 0.61}}\n    follow: false")
    path = tmp_path / "template.yaml"
    path.write_text(text)
    return path


def test_strategy_follow_section_runs_without_the_option_and_pins_gates(files, tmp_path):
    strategy = _strategy_with_follow(tmp_path, files)
    code = main(["-q", "run", str(strategy), str(files / "fcs"), "--out", str(tmp_path / "out"), "--workers", "1"])
    assert code == 0
    counts = pd.read_csv(tmp_path / "out" / "counts.csv")
    sources = counts.groupby("population")["gate_source"].agg(set)
    assert sources["/Cells/Singlets/Live"] == {"template"}
    assert sources["/Cells"] == {"followed"}
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["follow"]["settings"]["stiffness"] == 0.05
    assert manifest["follow"]["per_population"] == {"/Cells/Singlets/Live": False}
    assert manifest["follow"]["template"] == 3
    code = main(["-q", "run", str(strategy), str(files / "fcs"), "--out", str(tmp_path / "static"),
                 "--workers", "1", "--no-follow"])
    assert code == 0 and set(pd.read_csv(tmp_path / "static" / "counts.csv")["gate_source"]) == {"template"}


def test_reference_lacking_channels_is_one_line_exit_2_and_nothing_written(files, tmp_path, capsys):
    synthetic = synthesize_sample("lupus_pd", 3000, seed=1)
    keep = [i for i, m in enumerate(synthetic.markers) if m not in ("CD3", "CD25")]
    write_fcs(tmp_path / "bad_ref.fcs", synthetic.events[:, keep], [synthetic.channels[i] for i in keep],
              markers=[synthetic.markers[i] for i in keep])
    out = tmp_path / "out"
    code = main(["run", str(TEMPLATE), str(files / "fcs"), "--out", str(out), "--follow",
                 str(tmp_path / "bad_ref.fcs")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and not out.exists()
    assert len(err) == 1 and "CD3" in err[0] and "CD25" in err[0] and "bad_ref.fcs" in err[0]


def test_gate_with_empty_parent_on_reference_fails_before_anything_is_written(files, tmp_path, capsys):
    synthetic = synthesize_sample("lupus_pd", 3000, seed=1)
    events = np.array(synthetic.events, copy=True)
    events[:, list(synthetic.channels).index("FSC-A")] = 1000.0  # all debris: /Cells is empty
    write_fcs(tmp_path / "empty.fcs", events, list(synthetic.channels), markers=list(synthetic.markers),
              spillover=synthetic.spillover)
    code = main(["run", str(TEMPLATE), str(files / "fcs"), "--out", str(tmp_path / "out"), "--follow",
                 str(tmp_path / "empty.fcs")])
    err = capsys.readouterr().err
    assert code == 2 and not (tmp_path / "out").exists()
    assert "Singlets" in err and "0 events" in err


def test_missing_reference_is_bad_input(files, tmp_path, capsys):
    code = main(["run", str(TEMPLATE), str(files / "fcs"), "--out", str(tmp_path / "out"), "--follow",
                 str(tmp_path / "nowhere.fcs")])
    assert code == 2 and not (tmp_path / "out").exists()
    assert "nowhere.fcs" in capsys.readouterr().err


def test_failed_registration_on_a_target_is_flagged_and_the_batch_goes_on(files, tmp_path, monkeypatch):
    from cytogate.follow import core

    def broken(*args, **kwargs):
        raise RuntimeError("optimizer diverged")

    monkeypatch.setattr(core, "register_plane", broken)
    result = _run(files, tmp_path / "out", workers=1)
    assert result.exit_code == 0 and result.summary.failed == 0
    fits = pd.read_parquet(tmp_path / "out" / "fits.parquet")
    planes = fits[fits["gate"].isin(["polygon", "ellipsoid"])]
    assert len(planes) and set(planes["status"]) == {"fallback"}
    assert planes["reason"].str.contains("optimizer diverged").all()
    counts = pd.read_csv(tmp_path / "out" / "counts.csv")
    assert set(counts[counts["population"] == "/Cells"]["gate_source"]) == {"fallback"}
    assert result.manifest["follow"]["fallback"] > 0


def _outputs(folder):
    return {name: (folder / name).read_bytes() for name in ("counts.csv", "fits.parquet", "gates.json")}


def test_same_gates_bit_for_bit_on_one_and_two_workers_and_on_dask(files, tmp_path):
    distributed = pytest.importorskip("distributed")
    one = _run(files, tmp_path / "one", workers=1)
    two = _run(files, tmp_path / "two", workers=2)
    assert one.exit_code == two.exit_code == 0 and two.manifest["runner"].startswith("local, 2")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=40) as cluster:
        dask = _run(files, tmp_path / "dask", scheduler=cluster.scheduler_address)
    assert dask.exit_code == 0 and dask.manifest["runner"].startswith("dask")
    reference = _outputs(tmp_path / "one")
    assert _outputs(tmp_path / "two") == reference
    assert _outputs(tmp_path / "dask") == reference
    fits = pd.read_parquet(tmp_path / "one" / "fits.parquet")
    assert (fits["value"] != fits["template"]).any()  # gates did move: the comparison is not of templates


def test_a_reviewed_gate_keeps_the_reviewers_geometry_while_the_others_follow(files, tmp_path):
    t_cells = "/Cells/Singlets/Live/Lymphocytes/T cells"
    review = tmp_path / "review.yaml"
    review.write_text("cytogate_overrides: 1\noverrides:\n"
                      f"  - sample: drifted\n    population: {t_cells}\n"
                      "    gate: {rectangle: {CD3: {min: 0.30}, CD19: {max: 0.45}}}\n"
                      "    reason: dim CD3 on this tube\n    author: jdoe\n    date: 2026-12-01\n")
    result = _run(files, tmp_path / "out", workers=1, overrides=str(review))
    assert result.exit_code == 0
    counts = pd.read_csv(tmp_path / "out" / "counts.csv").set_index(["sample", "population"])
    assert counts.loc[("drifted", t_cells), "gate_source"] == "override"
    assert counts.loc[("plain", t_cells), "gate_source"] == "followed"
    assert counts.loc[("drifted", "/Cells"), "gate_source"] == "followed"
    gates = json.loads((tmp_path / "out" / "gates.json").read_text())["samples"]["drifted"]
    assert gates[t_cells]["source"] == "override" and gates[t_cells]["gate"]["mins"][0] == 0.30
    fits = pd.read_parquet(tmp_path / "out" / "fits.parquet")
    pinned = fits[(fits["sample"] == "drifted") & (fits["population"] == t_cells)]
    # not followed (the reviewer's gate stands), and the override recorded as such
    assert set(pinned["status"]) == {"template", "override"}
