"""`cytogate export RUN_DIR OUT.wsp`, checked by two independent readers.

A run's counts.csv must be reproduced, for every sample and population, by
FlowKit's ``Workspace`` (an oracle) and by cytogate's own ``.wsp`` import
re-gating each file.  The strategies cover static, data-driven and overridden
gates; compensated and uncompensated axes; logicle, biex, asinh, log and linear
scales; ranges, rectangles, quadrants, polygons, an ellipse and boolean gates (complemented operands
included, written as FlowJo NotNodes beside them).
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest

import cytogate
from cytogate.batch import BatchOptions, run_batch
from cytogate.cli import main
from cytogate.export import ExportError, export_flowjo_workspace
from cytogate.strategy.flowjo_wsp import list_wsp_samples, read_wsp

ROOT = Path(__file__).resolve().parents[2]
FCS = ROOT / "sample_fcs"

AXES = """\
cytogate_strategy: 1
name: export axes
compensation: file
transform: {logicle: {T: 262144, W: 0.5, M: 4.5, A: 0}}
scatter_transform: none
transforms:
  asinh: {asinh: {T: 262144, M: 4.5, A: 0}}
  biex: {biex: {width: -10, negative: 0, positive: 4.42, max_value: 262144}}
  lin: {linear: {T: 262144, A: 0}}
  logscatter: {log: {T: 262144, M: 4.5}}
populations:
  Cells:
    polygon: {x: FSC-A, y: SSC-A, vertices: [[30000, 0], [260000, 0], [260000, 260000], [30000, 200000]]}
  Singlets: {parent: Cells, singlet: {area: FSC-A, height: FSC-H, k: 4}}
  Leukocytes: {parent: Singlets, range: {CD45: {min: {density_valley: {bounds: [0.3, 0.5], fallback: 0.4}}}}}
  Lymphocytes: {parent: Leukocytes, range: {SSC-A: {max: 0.77, transform: logscatter}}}
  T cells: {parent: Lymphocytes, rectangle: {CD3: {min: 0.45, transform: biex}, CD19: {max: 0.5, transform: biex}}}
  B cells: {parent: Lymphocytes, rectangle: {CD3: {max: 0.45, transform: biex}, CD19: {min: 0.5, transform: biex}}}
  CD4 asinh:
    parent: T cells
    transform: asinh
    polygon: {x: CD4, y: CD8, vertices: [[0.45, 0.0], [1.0, 0.0], [1.0, 0.4], [0.6, 0.45], [0.45, 0.3]]}
  CD127 linear:
    parent: T cells
    transform: lin
    polygon: {x: CD127, y: CD25, vertices: [[0.002, -0.01], [0.5, -0.01], [0.5, 0.5], [0.004, 0.2]]}
  Subsets:
    parent: T cells
    quadrant:
      dividers: {CCR7: 0.45, CD45RA: {density_valley: {bounds: [0.35, 0.55], fallback: 0.45}}}
      populations: {CCR7+CD45RA+: Naive, CCR7-CD45RA-: EM}
  pDC-like:
    parent: Leukocytes
    ellipse: {x: CD123, y: HLA-DR, mean: [0.7, 0.7], covariance: [[0.01, 0.002], [0.002, 0.01]], distance_square: 4}
  T or pDC: {parent: Leukocytes, or: [T cells, pDC-like]}
  T not B: {parent: Lymphocytes, and: [T cells, {not: B cells}]}
  B or not T: {parent: Lymphocytes, or: [B cells, {not: T cells}]}
"""

OVERRIDES = """\
cytogate_overrides: 1
overrides:
  - sample: S003_W24
    population: /Cells/Singlets/Leukocytes/Lymphocytes/B cells
    gate: {rectangle: {CD3: {max: 0.40}, CD19: {min: 0.55}}}
    reason: CD19 dim on this tube; gate moved to the valley
    author: jdoe
    date: 2026-12-01
  - sample: S001_BL
    population: /Cells/Singlets
    gate: {polygon: {x: FSC-A, y: FSC-H, vertices: [[0, 0], [262144, 180000], [262144, 262144]]}}
    reason: doublet wedge drawn by hand
    author: jdoe
    date: 2026-12-01
"""

# FlowKit turns FlowJo ellipses into polygons (as FlowJo does): those counts may differ by a few events.
ELLIPSE_DERIVED = {"pDC-like", "T or pDC"}


def _flowkit_counts(wsp: Path) -> dict[tuple[str, str], int]:
    flowkit = pytest.importorskip("flowkit")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        workspace = flowkit.Workspace(str(wsp), find_fcs_files_from_wsp=True)
        workspace.analyze_samples(use_mp=False)
        report = workspace.get_analysis_report()
    out = {}
    for _, row in report.iterrows():
        path = "/" + "/".join([*row.gate_path[1:], row.gate_name])
        out[(row.sample_id, path)] = int(row["count"])
    return out


def _check_both_readers(run: Path, wsp: Path, *, tolerant: set[str] = frozenset()) -> pd.DataFrame:
    counts = pd.read_csv(run / "counts.csv")
    flowkit = _flowkit_counts(wsp)
    for _, row in counts.iterrows():
        got = flowkit[(row["sample"], row.population)]
        if row["name"] in tolerant:
            assert abs(got - row["count"]) <= max(3, 0.01 * row["count"]), (row["sample"], row.population)
        else:
            assert got == row["count"], (row["sample"], row.population, got, row["count"])
    for listed in list_wsp_samples(wsp):
        imported = read_wsp(wsp, sample=listed.name)
        result = cytogate.gate(imported.strategy, cytogate.read_fcs(listed.uri.removeprefix("file://")))
        for _, row in counts[counts["sample"] == listed.name].iterrows():
            assert result.count(row.population) == row["count"], (listed.name, row.population)
    return counts


@pytest.fixture(scope="module")
def reviewed_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    strategy = folder / "axes.yaml"
    strategy.write_text(AXES)
    overrides = folder / "review.yaml"
    overrides.write_text(OVERRIDES)
    inputs = [FCS / "S001_BL.fcs", FCS / "S003_W24.fcs"]
    run = folder / "run"
    result = run_batch(strategy, inputs, run, options=BatchOptions(workers=1, progress=False, overrides=overrides))
    assert result.exit_code == 0
    wsp = folder / "run.wsp"
    assert main(["-q", "export", str(run), str(wsp)]) == 0
    return run, wsp


def test_flowkit_and_cytogate_reproduce_counts_with_fits_and_overrides(reviewed_run):
    run, wsp = reviewed_run
    counts = _check_both_readers(run, wsp, tolerant=ELLIPSE_DERIVED)
    sources = dict(zip(zip(counts["sample"], counts["population"]), counts["gate_source"]))
    assert sources[("S003_W24", "/Cells/Singlets/Leukocytes/Lymphocytes/B cells")] == "override"
    assert sources[("S001_BL", "/Cells/Singlets")] == "override"
    assert sources[("S003_W24", "/Cells/Singlets")] == "fitted"
    assert sources[("S001_BL", "/Cells")] == "template"


def test_workspace_holds_each_samples_own_geometry(reviewed_run):
    run, wsp = reviewed_run
    gates = json.loads((run / "gates.json").read_text())["samples"]
    naive = "/Cells/Singlets/Leukocytes/Lymphocytes/T cells/Naive"
    cuts = {s: gates[s][naive]["gate"]["dividers"][1]["values"][0] for s in ("S001_BL", "S003_W24")}
    assert cuts["S001_BL"] != cuts["S003_W24"]  # the divider was fitted to each file
    for sample, expected in cuts.items():
        imported = read_wsp(wsp, sample=sample).strategy.by_path[naive].gate  # FlowJo quadrants are rectangles
        cd45ra = [d.name for d in imported.dimensions].index("B530-A")  # CD45RA, by its $PnN
        assert imported.mins[cd45ra] == pytest.approx(expected, abs=1e-9)
    singlets = read_wsp(wsp, sample="S001_BL").strategy.by_path["/Cells/Singlets"].gate
    assert singlets.kind == "polygon" and singlets.vertices[1] == pytest.approx((262144, 180000))
    text = wsp.read_text()
    assert "<transforms:spilloverMatrix" in text and "Comp-R670-A" in text
    assert 'uri="file:///' in text and "<transforms:biex" in text and "<transforms:fasinh" in text


STATIC_UNCOMPENSATED = """\
cytogate_strategy: 1
compensation: none
transform: {logicle: {T: 262144, W: 0.5, M: 4.5, A: 0}}
scatter_transform: none
populations:
  Cells: {range: {FSC-A: {min: 30000}}}
  Live: {parent: Cells, range: {Live/Dead: {max: 0.6}}}
  T: {parent: Live, polygon: {x: CD3, y: CD19, vertices: [[0.45, 0.0], [1.0, 0.0], [1.0, 0.45], [0.45, 0.5]]}}
  Q:
    parent: Live
    quadrant:
      dividers: {CD4: 0.45, CD8: 0.45}
      populations: {CD4+CD8-: CD4, CD4-CD8+: CD8}
"""


def test_gatingml_strategy_on_uncompensated_axes(tmp_path):
    from cytogate.strategy.gatingml_write import save_gatingml

    yaml_path = tmp_path / "static.yaml"
    yaml_path.write_text(STATIC_UNCOMPENSATED)
    xml = tmp_path / "static.xml"
    save_gatingml(cytogate.load_strategy(yaml_path), xml)
    run = tmp_path / "run"
    run_batch(xml, [FCS / "S002_BL.fcs", FCS / "S004_W24.fcs"], run, options=BatchOptions(workers=1, progress=False))
    wsp = tmp_path / "static.wsp"
    export_flowjo_workspace(run, wsp)
    assert "spilloverMatrix" not in wsp.read_text()  # nothing is compensated
    counts = _check_both_readers(run, wsp)
    assert set(counts["gate_source"]) == {"template"}

    # reviewed: one sample's T polygon moved; only that sample's T changes, and both readers see it
    review = tmp_path / "review.yaml"
    review.write_text("cytogate_overrides: 1\noverrides:\n  - sample: S004_W24\n    population: /Cells/Live/T\n"
                      "    gate: {polygon: {x: CD3, y: CD19, vertices: [[0.55, 0.0], [1.0, 0.0], [1.0, 0.45], [0.55, 0.5]]}}\n"
                      "    reason: CD3 dim tail is debris here\n    author: jdoe\n    date: 2026-12-01\n")
    reviewed = tmp_path / "reviewed"
    run_batch(xml, [FCS / "S002_BL.fcs", FCS / "S004_W24.fcs"], reviewed,
              options=BatchOptions(workers=1, progress=False, overrides=review))
    export_flowjo_workspace(reviewed, tmp_path / "reviewed.wsp")
    after = _check_both_readers(reviewed, tmp_path / "reviewed.wsp").set_index(["sample", "population"])
    before = counts.set_index(["sample", "population"])
    changed = {key for key in before.index if before.loc[key, "count"] != after.loc[key, "count"]}
    assert changed == {("S004_W24", "/Cells/Live/T")}, changed
    assert after.loc[("S004_W24", "/Cells/Live/T"), "gate_source"] == "override"


def test_failed_samples_are_left_out_and_listed(tmp_path, capsys):
    strategy = tmp_path / "static.yaml"
    strategy.write_text(STATIC_UNCOMPENSATED)
    good = tmp_path / "S001_BL.fcs"
    shutil.copy(FCS / "S001_BL.fcs", good)
    broken = tmp_path / "broken.fcs"
    broken.write_bytes(b"FCS3.1    not really")
    run = tmp_path / "run"
    assert run_batch(strategy, [good, broken], run, options=BatchOptions(workers=1, progress=False)).exit_code == 3
    wsp = tmp_path / "out.wsp"
    assert main(["export", str(run), str(wsp)]) == 0
    err = capsys.readouterr().err
    assert "left out broken" in err and "1 sample(s)" in err
    assert [s.name for s in list_wsp_samples(wsp)] == ["S001_BL"]


def test_run_folder_of_another_version_is_refused(tmp_path, capsys):
    strategy = tmp_path / "static.yaml"
    strategy.write_text(STATIC_UNCOMPENSATED)
    run = tmp_path / "run"
    run_batch(strategy, [FCS / "S001_BL.fcs"], run, options=BatchOptions(workers=1, progress=False))
    (run / "gates.json").unlink()
    with pytest.raises(ExportError, match="no gates.json"):
        export_flowjo_workspace(run, tmp_path / "a.wsp")
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["schema"] = 99
    (run / "manifest.json").write_text(json.dumps(manifest))
    assert main(["export", str(run), str(tmp_path / "b.wsp")]) == 2
    assert "manifest schema 99" in capsys.readouterr().err
    assert not (tmp_path / "a.wsp").exists() and not (tmp_path / "b.wsp").exists()
    assert main(["export", str(tmp_path / "nowhere"), str(tmp_path / "c.wsp")]) == 2


def test_polygon_axes_shown_on_two_scales_are_refused(tmp_path):
    strategy = tmp_path / "clash.yaml"
    strategy.write_text(STATIC_UNCOMPENSATED + """\
  T lin:
    parent: Live
    transform: {linear: {T: 262144, A: 0}}
    polygon: {x: CD3, y: CD8, vertices: [[0.01, 0.0], [1.0, 0.0], [1.0, 0.5]]}
""")
    run = tmp_path / "run"
    run_batch(strategy, [FCS / "S001_BL.fcs"], run, options=BatchOptions(workers=1, progress=False))
    with pytest.raises(ExportError, match="one display scale") as info:
        export_flowjo_workspace(run, tmp_path / "x.wsp")
    assert "/Cells/Live/T lin" in str(info.value)
    assert not (tmp_path / "x.wsp").exists()


def test_followed_gates_are_exported_as_each_samples_geometry(tmp_path):
    pytest.importorskip("SimpleITK", reason="template following needs the 'follow' extra")
    pytest.importorskip("skimage", reason="template following needs the 'follow' extra")
    from cytogate.synth import synthesize_sample

    template = Path(__file__).resolve().parents[1] / "follow" / "template.yaml"
    synthesize_sample("lupus_pd", 8000, seed=1).write(tmp_path / "ref.fcs")
    (tmp_path / "fcs").mkdir()
    synthesize_sample("lupus_pd", 8000, seed=3, shift="fsc=0.85,CD3=0.3,CD19=4").write(tmp_path / "fcs" / "s3.fcs")
    synthesize_sample("lupus_pd", 8000, seed=4).write(tmp_path / "fcs" / "s4.fcs")
    run = tmp_path / "run"
    result = run_batch(template, [str(tmp_path / "fcs")], run,
                       options=BatchOptions(workers=1, progress=False, follow=str(tmp_path / "ref.fcs")))
    assert result.exit_code == 0
    counts = pd.read_csv(run / "counts.csv")
    assert (counts["gate_source"] == "followed").any()
    wsp = tmp_path / "run.wsp"
    assert main(["-q", "export", str(run), str(wsp)]) == 0
    # cytogate's import is exact for every gate; FlowKit's reading of the followed (rotated) ellipse,
    # which FlowJo stores as foci and edges on a 256-step grid, may differ by a boundary event
    _check_both_readers(run, wsp, tolerant={"Monocytes"})


def test_ready_made_b_cell_strategy_exports_with_its_complemented_boolean(tmp_path):
    """``Naive B = IgD+CD27- B and not Transitional B``: FlowJo holds it through a NotNode beside it."""
    from cytogate.synth import synthesize_sample

    files = []
    for seed in (4, 5):
        synthetic = synthesize_sample("b_cell", 40_000, seed=seed)
        files.append(tmp_path / f"b{seed}.fcs")
        cytogate.write_fcs(files[-1], synthetic.events, synthetic.channels, markers=synthetic.markers,
                           spillover=synthetic.spillover)
    run = tmp_path / "run"
    strategy = Path(cytogate.__file__).resolve().parent / "gating_strategies" / "b_cells.yaml"
    assert run_batch(strategy, files, run, options=BatchOptions(workers=1, progress=False)).exit_code == 0
    wsp = tmp_path / "b.wsp"
    export_flowjo_workspace(run, wsp)
    assert 'NotNode name="not Transitional B"' in wsp.read_text()
    counts = _check_both_readers(run, wsp)
    assert (counts["name"] == "Naive B").sum() == 2
