"""The report of a followed run: re-gated with the same reference, template drawn under each followed gate."""

from __future__ import annotations

import pytest

pytest.importorskip("SimpleITK", reason="template following needs the 'follow' extra")
pytest.importorskip("skimage", reason="template following needs the 'follow' extra")
pytest.importorskip("matplotlib")
from follow_helpers import TEMPLATE, as_sample

import cytogate
from cytogate.batch import BatchOptions, run_batch
from cytogate.follow import Reference
from cytogate.report import build_report
from cytogate.report.gateplot import gate_view, plot_gate
from cytogate.synth import synthesize_sample

T_CELLS = "/Cells/Singlets/Live/Lymphocytes/T cells"


def test_followed_gate_is_drawn_over_its_dashed_template():
    strategy = cytogate.load_strategy(TEMPLATE)
    reference = Reference(strategy, as_sample(synthesize_sample("lupus_pd", 15_000, seed=1)))
    sample = as_sample(synthesize_sample("lupus_pd", 15_000, seed=8, shift="CD3=0.3,CD19=4"))
    result = cytogate.gate(strategy, sample, follow=reference)
    view = gate_view(result, sample, T_CELLS)
    assert view.template is not None and view.template != view.gate and not view.data_driven
    assert view.follow_note.startswith("followed (confidence")
    figure = plot_gate(result, sample, T_CELLS)
    ax = figure.axes[0]
    styles = sorted(p.get_linestyle() for p in ax.patches)
    assert styles == ["--", "solid"]  # the template dashed, the followed gate solid
    static = gate_view(cytogate.gate(strategy, sample), sample, T_CELLS)
    assert static.template is None and static.follow_note == ""


def test_report_of_a_followed_run_regates_it_following_the_reference(tmp_path):
    synthesize_sample("lupus_pd", 8000, seed=1).write(tmp_path / "ref.fcs")
    (tmp_path / "fcs").mkdir()
    for seed in (3, 4):
        synthesize_sample("lupus_pd", 8000, seed=seed, shift="fsc=0.85,CD3=0.3").write(tmp_path / "fcs" / f"s{seed}.fcs")
    run_batch(TEMPLATE, [str(tmp_path / "fcs")], tmp_path / "out",
              options=BatchOptions(progress=False, workers=1, follow=str(tmp_path / "ref.fcs")))
    html = build_report(tmp_path / "out", workers=1).read_text()
    assert "re-gated counts differ" not in html
    (tmp_path / "ref.fcs").unlink()
    html = build_report(tmp_path / "out", workers=1).read_text()
    assert "no longer there" in html
