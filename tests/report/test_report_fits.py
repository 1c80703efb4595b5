"""The report shows where data-driven gates fell back and which optional parts a file lacked."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import cytogate
from cytogate.batch import BatchOptions, run_batch
from cytogate.fcs import Sample
from cytogate.report import build_report, gate_view, plot_gate
from cytogate.synth import synthesize_sample

STRATEGIES = Path(cytogate.__file__).resolve().parent / "gating_strategies"
PDC = "/Cells/Singlets/Live/Lymphocytes/pDC"


def _json_block(text: str, block_id: str):
    match = re.search(rf"<script type='application/json' id='{block_id}'>(.*?)</script>", text, re.S)
    assert match, block_id
    return json.loads(match.group(1).replace("<\\/", "</"))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report_fits")
    (root / "fcs").mkdir()
    synthesize_sample("b_cell", 20_000, seed=1, name="plain").write(root / "fcs" / "plain.fcs")
    # no memory B cells: the IgD cut inside Memory B has no events and falls back; no FSC-H, no CD268
    synthesize_sample("b_cell", 20_000, seed=2, frequencies={"Memory B": 0.0}, drop=("FSC-H", "CD268"),
                      name="other_lab").write(root / "fcs" / "other_lab.fcs")
    run_batch(STRATEGIES / "b_cells.yaml", [root / "fcs"], root / "run",
              options=BatchOptions(workers=1, progress=False, stats=False))
    path = build_report(root / "run", max_samples_with_plots=2, workers=1)
    return root / "run", path.read_text(encoding="utf-8")


def test_fits_section_counts_fallbacks_per_gate(report):
    _, html = report
    assert "id='fits'" in html and "fell back to their declared fallback" in html
    table = _json_block(html, "tables")["fits"]
    keys = [c["key"] for c in table["columns"]]
    rows = [dict(zip(keys, r)) for r in table["rows"]]
    switched = next(r for r in rows if r["population"].endswith("/Switched memory B"))
    assert switched["fallback"] == 1 and switched["fell back in"] == "other_lab" and switched["fitted"] == 1
    skipped = {r["parameter"] for r in rows if r["skipped"]}
    assert {"FSC-H", "CD268"} <= skipped
    lymph = next(r for r in rows if r["population"].endswith("/Lymphocytes"))
    assert lymph["fitted"] == 2 and lymph["fallback"] == 0


def test_qc_flags_list_every_recorded_fallback(report):
    _, html = report
    qc = _json_block(html, "tables")["qc"]
    details = [r[2] for r in qc["rows"] if r[1] == "fit fallback"]
    assert details and all("other_lab" == r[0] for r in qc["rows"] if r[1] == "fit fallback")
    assert any("Switched memory B IgD.max" in d and "only 0 events" in d for d in details)
    assert not [r for r in qc["rows"] if r[1] == "gate" and "fallback threshold" in r[2]]  # not listed twice


def test_gate_plots_of_a_file_lacking_optional_parts(tmp_path):
    synthetic = synthesize_sample("lupus_pd", 20_000, seed=3, drop=("FSC-H", "CD303"))
    sample = Sample.from_arrays(synthetic.events, synthetic.channels, markers=synthetic.markers,
                                spillover=synthetic.spillover)
    result = cytogate.gate(cytogate.load_strategy(STRATEGIES / "lupus_pd.yaml"), sample)
    view = gate_view(result, sample, PDC)  # the dropped CD303 dimension is not looked up
    assert any("CD303 not in this file" in s for s in view.skipped)
    assert "CD303" not in [d.label for d in view.gate.dimensions]
    singlets = gate_view(result, sample, "/Cells/Singlets")
    assert singlets.gate.kind == "pass_through" and singlets.count == result.count("/Cells")
    figure = plot_gate(result, sample, "/Cells/Singlets")
    texts = [t.get_text() for t in figure.axes[0].texts]
    assert any("optional population, not gated on this file" in t for t in texts)
    texts = [t.get_text() for t in plot_gate(result, sample, PDC).axes[0].texts]
    assert any("skipped: CD303 not in this file" in t for t in texts)
