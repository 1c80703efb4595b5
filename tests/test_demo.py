"""``cytogate demo``: the whole pipeline on a synthetic trial, end to end (small settings)."""

from __future__ import annotations

import fnmatch
import json
import tomllib
from pathlib import Path

import pandas as pd
import pytest

import cytogate
from cytogate.cli import main
from cytogate.demo import DEMO_POPULATIONS, find_strategy, run_demo
from cytogate.errors import BatchError


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo_output"
    return run_demo(out, subjects_per_arm=2, n_events=4000, workers=1, progress=False, max_samples_with_plots=2)


def test_demo_writes_every_stage(demo):
    assert (demo.trial / "samples.csv").is_file() and (demo.trial / "truth.csv").is_file()
    sheet = pd.read_csv(demo.trial / "samples.csv")
    assert len(sheet) == 4 * 2 * 4 and len(list(demo.trial.glob("*.fcs"))) == len(sheet)
    counts = pd.read_parquet(demo.run / "counts.parquet")
    assert counts["sample"].nunique() == len(sheet)
    manifest = json.loads((demo.run / "manifest.json").read_text())
    assert manifest["totals"]["failed"] == 0 and manifest["strategy"]["path"].endswith("lupus_pd.yaml")
    contrasts = pd.read_csv(demo.change / "contrasts.csv")
    assert set(contrasts["name"]) == set(DEMO_POPULATIONS)
    assert set(contrasts["arm"]) == {"0.15 mg", "0.3 mg", "0.45 mg"}  # each dose vs placebo
    text = demo.report.read_text()
    assert "Change from baseline" in text and "change-contrasts" in text
    for fig in demo.figures:
        assert fig.is_file() and fig.read_bytes()[:4] == b"\x89PNG"
    described = demo.describe()
    for path in (demo.trial, demo.run, demo.change, demo.report):
        assert str(path) in described


def test_demo_finds_the_strategy_and_says_when_it_cannot(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # found in the installed package, not through the working folder
    found = find_strategy()
    assert found.name == "lupus_pd.yaml" and found.parent == Path(cytogate.__file__).resolve().parent / "gating_strategies"
    with pytest.raises(BatchError, match="CYTOGATE_STRATEGIES"):
        find_strategy("no_such_strategy.yaml")


def test_ready_made_strategies_are_package_data():
    # an installed wheel carries every ready-made panel (and the panel files they include)
    with open(Path(cytogate.__file__).resolve().parents[2] / "pyproject.toml", "rb") as handle:
        patterns = tomllib.load(handle)["tool"]["setuptools"]["package-data"]["cytogate"]
    folder = Path(cytogate.__file__).resolve().parent / "gating_strategies"
    shipped = sorted(p.name for p in folder.iterdir() if p.is_file())
    assert "lupus_pd.yaml" in shipped and "markers.yaml" in shipped
    for name in shipped:
        assert any(fnmatch.fnmatch(f"gating_strategies/{name}", pattern) for pattern in patterns), name


def test_demo_cli_rejects_bad_options(capsys):
    assert main(["demo", "--subjects", "0"]) == 2
    assert "--subjects must be at least 1" in capsys.readouterr().err
