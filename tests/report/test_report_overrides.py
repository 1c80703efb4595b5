"""The report draws each sample with its overrides: overridden gates marked, the template's gate beside them."""

from __future__ import annotations

from pathlib import Path

from report_helpers import SAMPLE_FCS, STRATEGY

from cytogate import gate, load_strategy, read_fcs
from cytogate.report import build_report
from cytogate.report.gateplot import draw_view, gate_view
from cytogate.strategy.overrides import parse_overrides

B_CELLS = "/Cells/Singlets/Live/Lymphocytes/B cells"
LIVE = "/Cells/Singlets/Live"
REVIEW = f"""\
cytogate_overrides: 1
overrides:
  - sample: S001_BL
    population: {B_CELLS}
    gate: {{rectangle: {{CD3: {{max: 0.40}}, CD19: {{min: 0.55}}}}}}
    reason: CD19 dim on this tube
    author: jdoe
    date: 2026-12-01
  - sample: S001_BL
    population: {LIVE}
    gate: {{range: {{Live/Dead: {{max: 0.5}}}}}}
    reason: viability dye weak
    author: jdoe
    date: 2026-12-01
"""


def test_an_overridden_view_carries_the_template_and_draws_it_dotted():
    from matplotlib.figure import Figure

    template = load_strategy(STRATEGY)
    reviewed = parse_overrides(REVIEW, source="review.yaml").resolve(template, ["S001_BL"])["S001_BL"]
    sample = read_fcs(SAMPLE_FCS / "S001_BL.fcs")
    result = gate(reviewed.apply(template), sample)
    for path in (B_CELLS, LIVE):
        view = gate_view(result, sample, path, template=template)
        assert view.template is not None and view.template != view.gate
        assert not view.template.needs_fit  # the data-driven Live gate: fitted to the corrected sample's parent
        ax = Figure().add_subplot()
        draw_view(ax, view)
        dotted = [a for a in [*ax.patches, *ax.lines] if a.get_linestyle() == ":"]
        assert dotted, path
        assert any("override for this sample (template dotted)" in t.get_text() for t in ax.texts)
    plain = gate_view(result, sample, "/Cells", template=template)
    assert plain.template is None  # not overridden


def test_report_of_a_run_with_overrides(tmp_path: Path):
    from cytogate.batch import BatchOptions, run_batch

    review = tmp_path / "review.yaml"
    review.write_text(REVIEW, encoding="utf-8")
    run = tmp_path / "run"
    run_batch(STRATEGY, [SAMPLE_FCS / "S001_BL.fcs", SAMPLE_FCS / "S002_W24.fcs"], run,
              options=BatchOptions(workers=1, progress=False, stats=False, overrides=review))
    html = build_report(run, max_samples_with_plots=2, workers=1).read_text(encoding="utf-8")
    assert "B cells: gate overridden for this sample" in html and "Live: gate overridden for this sample" in html
    assert "Lymphocytes: gate overridden" not in html and "CD268+ B: gate overridden" not in html
    assert "re-gated counts differ" not in html  # drawn with the overrides the run applied
