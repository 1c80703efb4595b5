"""fits.parquet: every data-driven gate's landing place, fallbacks and skipped parts, per sample; --strict-fits."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from batch_helpers import make_inputs

from cytogate.cli import main

STRATEGY = """cytogate_strategy: 1
scatter_transform: none
transform: none
populations:
  Cells: {range: {FSC-A: {min: 200, max: 800}}}
  Singlets: {parent: Cells, optional: true, singlet: {area: FSC-A, height: FSC-H}}
  T: {parent: Singlets, rectangle: {CD3: {min: {density_valley: {fallback: 500}}}, CD45: {min: 0, optional: true}}}
  B: {parent: Singlets, range: {CD19: {min: {density_valley: {fallback: 400}}}}}
"""


@pytest.fixture()
def run_dir(tmp_path):
    strategy = tmp_path / "s.yaml"
    strategy.write_text(STRATEGY)
    make_inputs(tmp_path / "fcs", count=2, n=3000)
    return strategy, tmp_path / "fcs"


def test_fits_parquet_records_fits_fallbacks_and_skipped_parts(tmp_path, run_dir, capsys):
    strategy, fcs = run_dir
    out = tmp_path / "out"
    assert main(["run", str(strategy), str(fcs), "--out", str(out), "--no-progress"]) == 0
    assert "fell back" in capsys.readouterr().err
    fits = pd.read_parquet(out / "fits.parquet")
    assert list(fits.columns) == ["schema", "sample", "population", "gate", "parameter", "value", "template",
                                  "status", "confidence", "reason", "rule"]
    assert set(fits["schema"]) == {1} and fits["sample"].nunique() == 2
    t = fits[fits["parameter"] == "CD3.min"]
    # CD3 (FL1-A) is bimodal at 150 and 800: a real valley between them, with its depth as confidence
    assert (t["status"] == "fitted").all() and t["value"].between(300, 650).all()
    assert (t["confidence"] > 0.5).all() and (t["template"] == 500).all()
    # CD19 (FL2-A) is one log-normal mode: no valley, the fallback is used and says why
    b = fits[fits["parameter"] == "CD19.min"]
    assert (b["status"] == "fallback").all() and (b["value"] == 400).all() and (b["confidence"] == 0).all()
    assert b["reason"].str.contains("mode").all()
    skipped = fits[fits["status"] == "skipped"]
    assert set(skipped["population"]) == {"/Cells/Singlets", "/Cells/Singlets/T"}
    assert set(skipped["parameter"]) == {"FSC-H", "CD45"} and skipped["value"].isna().all()
    counts = pd.read_csv(out / "counts.csv")
    source = dict(zip(counts[counts["sample"] == counts["sample"][0]]["population"], counts["gate_source"]))
    assert source == {"/Cells": "template", "/Cells/Singlets": "skipped", "/Cells/Singlets/T": "fitted",
                      "/Cells/Singlets/B": "fallback"}
    # the optional singlet gate passes its parent through
    one = counts[counts["sample"] == counts["sample"][0]].set_index("population")["count"]
    assert one["/Cells/Singlets"] == one["/Cells"]
    manifest = json.loads((out / "manifest.json").read_text())
    summary = manifest["fits"]
    assert summary["fits"] == 4 and summary["fallbacks"] == 2 and summary["skipped"] == 4
    assert summary["populations"]["/Cells/Singlets/B"]["fallbacks"] == 2


def test_strict_fits_fails_the_samples_whose_fit_fell_back(tmp_path, run_dir, capsys):
    strategy, fcs = run_dir
    out = tmp_path / "strict"
    assert main(["run", str(strategy), str(fcs), "--out", str(out), "--no-progress", "--strict-fits"]) == 3
    failures = pd.read_csv(out / "failures.csv")
    assert len(failures) == 2 and (failures["stage"] == "gate").all()
    assert failures["reason"].str.contains("CD19.min fell back").all()
    assert failures["reason"].str.contains("/Cells/Singlets/B").all()
