"""The ready-made strategies in gating_strategies/ find the synthetic truth, with and without drift.

Every population a strategy defines that has a truth counterpart (same path) and at
least 1,000 true events must reach F1 >= 0.95, on a plain sample and on samples
with random instrument / staining shifts (where the data-driven gates adapt).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import cytogate
from cytogate.fcs import Sample
from cytogate.synth import TRUTH, synthesize_sample, truth_membership

STRATEGIES = Path(__file__).resolve().parent.parent / "gating_strategies"
CASES = {
    "lupus_pd.yaml": "lupus_pd",
    "b_cells.yaml": "b_cell",
    "t_cells.yaml": "t_cell",
    "dendritic_cells.yaml": "dc",
    "nk_monocytes.yaml": "nk_mono",
}
SHIFTS = [None, "random", "random=1.5"]


def _f1(gated: np.ndarray, truth: np.ndarray) -> float:
    denominator = int(gated.sum() + truth.sum())
    return 2.0 * int(np.sum(gated & truth)) / denominator if denominator else 1.0


def test_every_strategy_file_is_tested():
    assert sorted(p.name for p in STRATEGIES.glob("*.yaml") if p.name != "markers.yaml") == sorted(CASES)


@pytest.mark.parametrize("shift", SHIFTS, ids=["no-shift", "random", "strong"])
@pytest.mark.parametrize("filename", sorted(CASES))
def test_strategy_reaches_f1_on_synthetic_truth(filename, shift):
    strategy = cytogate.load_strategy(STRATEGIES / filename)
    synthetic = synthesize_sample(CASES[filename], 120_000, seed=11, shift=shift)
    sample = Sample.from_arrays(synthetic.events, synthetic.channels, markers=synthetic.markers,
                                spillover=synthetic.spillover)
    result = cytogate.gate(strategy, sample)
    scored = {}
    for name, truth in truth_membership(synthetic).items():
        path = TRUTH[name].path
        if path in result.masks and truth.sum() >= 1000:
            scored[name] = _f1(result.masks[path], truth)
    assert len(scored) >= 5, f"too few populations compared: {sorted(scored)}"
    failing = {k: round(v, 3) for k, v in scored.items() if v < 0.95}
    assert not failing, f"{filename} with shift {shift}: F1 below 0.95 for {failing}"


def test_lupus_strategy_covers_the_study_populations():
    strategy = cytogate.load_strategy(STRATEGIES / "lupus_pd.yaml")
    for name in ("B cells", "CD268+ B", "pDC", "Tregs", "CD4 Naive", "CD8 TEMRA", "Singlets", "Live"):
        assert TRUTH[name].path in strategy.paths, name


def test_data_driven_gates_record_where_they_landed():
    strategy = cytogate.load_strategy(STRATEGIES / "lupus_pd.yaml")
    synthetic = synthesize_sample("lupus_pd", 30_000, seed=3, shift="CD25=0.6")
    sample = Sample.from_arrays(synthetic.events, synthetic.channels, markers=synthetic.markers,
                                spillover=synthetic.spillover)
    result = cytogate.gate(strategy, sample)
    tregs = result.fitted[TRUTH["Tregs"].path]
    assert tregs["kind"] == "rectangle" and len(tregs["fits"]) == 2
    assert all(not f["used_fallback"] for f in tregs["fits"])
    singlets = result.fitted["/Cells/Singlets"]
    assert singlets["kind"] == "polygon" and 1.1 < singlets["fits"][0]["params"]["ratio_high"] < 1.5


def test_readme_format_example_is_valid():
    import re

    from cytogate.strategy.yaml_format import load_yaml_strategy

    text = (STRATEGIES / "README.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", text, re.S).group(1)
    strategy = load_yaml_strategy(block, source=str(STRATEGIES / "example.yaml"))
    assert "/Cells/Singlets/CD4 T/Tregs" in strategy.paths
