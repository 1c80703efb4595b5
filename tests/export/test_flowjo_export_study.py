"""`cytogate export` of a study run: every sample with its own panel's tree, one FlowJo group per panel.

Checked as the single-strategy export is: FlowKit's ``Workspace`` and
cytogate's own ``.wsp`` import must reproduce the run's counts.csv for
every sample and population.  One panel is compensated with data-driven
gates and a reviewer's override, the other uncompensated and static.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from xml.etree import ElementTree

import pandas as pd
import pytest

import cytogate
from cytogate.batch import BatchOptions, run_batch
from cytogate.cli import main
from cytogate.strategy.flowjo_wsp import list_wsp_samples, read_wsp
from cytogate.strategy.workspace import open_workspace

FCS = Path(__file__).resolve().parents[2] / "sample_fcs"

COMPENSATED = """\
cytogate_strategy: 1
name: T tube
compensation: file
transform: {logicle: {T: 262144, W: 0.5, M: 4.5, A: 0}}
scatter_transform: none
transforms:
  biex: {biex: {width: -10, negative: 0, positive: 4.42, max_value: 262144}}
populations:
  Cells:
    polygon: {x: FSC-A, y: SSC-A, vertices: [[30000, 0], [260000, 0], [260000, 260000], [30000, 200000]]}
  Singlets: {parent: Cells, singlet: {area: FSC-A, height: FSC-H, k: 4}}
  Leukocytes: {parent: Singlets, range: {CD45: {min: {density_valley: {bounds: [0.3, 0.5], fallback: 0.4}}}}}
  T cells: {parent: Leukocytes, rectangle: {CD3: {min: 0.45, transform: biex}, CD19: {max: 0.5, transform: biex}}}
  Subsets:
    parent: T cells
    quadrant:
      dividers: {CCR7: 0.45, CD45RA: {density_valley: {bounds: [0.35, 0.55], fallback: 0.45}}}
      populations: {CCR7+CD45RA+: Naive, CCR7-CD45RA-: EM}
"""

UNCOMPENSATED = """\
cytogate_strategy: 1
name: B tube
compensation: none
transform: {logicle: {T: 262144, W: 0.5, M: 4.5, A: 0}}
scatter_transform: none
populations:
  Events: {range: {FSC-A: {min: 30000}}}
  Live: {parent: Events, range: {Live/Dead: {max: 0.6}}}
  B: {parent: Live, polygon: {x: CD19, y: CD3, vertices: [[0.45, 0.0], [1.0, 0.0], [1.0, 0.45], [0.45, 0.5]]}}
"""

OVERRIDES = """\
cytogate_overrides: 1
overrides:
  - sample: S002_BL
    population: /Cells/Singlets/Leukocytes/T cells
    gate: {rectangle: {CD3: {min: 0.5}, CD19: {max: 0.45}}}
    reason: CD3 dim on this tube
    author: jdoe
    date: 2026-12-01
"""

PANEL_OF = {"S001_BL": "T", "S002_BL": "T", "S003_BL": "T", "S001_W24": "B", "S002_W24": "B", "S004_W24": "B"}


def _flowkit_counts(wsp: Path) -> dict[tuple[str, str], int]:
    flowkit = pytest.importorskip("flowkit")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        workspace = flowkit.Workspace(str(wsp), find_fcs_files_from_wsp=True)
        workspace.analyze_samples(use_mp=False)
        report = workspace.get_analysis_report()
    return {(row.sample_id, "/" + "/".join([*row.gate_path[1:], row.gate_name])): int(row["count"])
            for _, row in report.iterrows()}


@pytest.fixture(scope="module")
def study_export(tmp_path_factory):
    folder = tmp_path_factory.mktemp("study_export")
    (folder / "t.yaml").write_text(COMPENSATED)
    (folder / "b.yaml").write_text(UNCOMPENSATED)
    (folder / "review.yaml").write_text(OVERRIDES)
    (folder / "samples.csv").write_text("file,sample,tube\n" + "".join(
        f"{FCS / name}.fcs,{name},{panel}\n" for name, panel in PANEL_OF.items()))
    study = folder / "study.yaml"
    study.write_text("cytogate_study: 1\nname: two tubes\nsamples: samples.csv\npanel_column: tube\n"
                     "panels: {T: t.yaml, B: b.yaml}\noverrides: review.yaml\n")
    run = folder / "run"
    assert run_batch(study, [], run, options=BatchOptions(workers=1, progress=False)).exit_code == 0
    wsp = folder / "run.wsp"
    assert main(["-q", "export", str(run), str(wsp)]) == 0
    return run, wsp


def test_both_readers_reproduce_every_panels_counts(study_export):
    run, wsp = study_export
    counts = pd.read_csv(run / "counts.csv")
    assert set(counts["gate_source"]) >= {"template", "fitted", "override"}
    flowkit = _flowkit_counts(wsp)
    for _, row in counts.iterrows():
        assert flowkit[(row["sample"], row.population)] == row["count"], (row["sample"], row.population)
    listed = list_wsp_samples(wsp)
    assert sorted(s.name for s in listed) == sorted(PANEL_OF)
    for sample in listed:
        imported = read_wsp(wsp, sample=sample.name).strategy
        mine = counts[counts["sample"] == sample.name]
        # the sample carries its own panel's tree, not the other panel's
        assert {p.path for p in imported.populations} == set(mine["population"])
        result = cytogate.gate(imported, cytogate.read_fcs(sample.uri.removeprefix("file://")))
        for _, row in mine.iterrows():
            assert result.count(row.population) == row["count"], (sample.name, row.population)


def test_each_panel_is_a_group_and_keeps_its_compensation(study_export):
    _, wsp = study_export
    workspace = open_workspace(wsp)
    names = {s.id: s.name for s in workspace.samples}
    groups = {group: sorted(names[i] for i in ids) for group, ids in workspace.groups.items()}
    assert groups == {"All Samples": sorted(PANEL_OF),
                      "T": sorted(s for s, p in PANEL_OF.items() if p == "T"),
                      "B": sorted(s for s, p in PANEL_OF.items() if p == "B")}
    matrices = {}
    for element in ElementTree.parse(wsp).getroot().iter("Sample"):
        name = element.find("SampleNode").get("name")
        matrices[name] = any(child.tag.endswith("spilloverMatrix") for child in element)
    assert matrices == {s: p == "T" for s, p in PANEL_OF.items()}


def test_a_panel_strategy_changed_since_the_run_is_refused(study_export, tmp_path):
    import json
    import shutil

    run, _ = study_export
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    panel = next(s for s in manifest["strategies"] if s["panel"] == "B")
    panel["text"] = panel["text"].replace("max: 0.6", "max: 0.7")
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert main(["export", str(copy), str(tmp_path / "x.wsp")]) == 2
    assert not (tmp_path / "x.wsp").exists()
