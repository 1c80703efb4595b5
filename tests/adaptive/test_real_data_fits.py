"""The ready-made strategies on a real file, scored event by event against a person's FlowJo gates.

``../shared/realdata/SofieVG+FlowSOM/inst/extdata/68983.fcs`` (mouse lavage, LSR, already
gated on lymphocytes before export: one scatter mode, nearly no dead cells) and the
``gating.wsp`` its analyst drew by hand.  cytogate's FlowJo import reproduces the manual
gates, so every event has a reference label.  The strategy is ``nk_monocytes.yaml`` as
shipped, minus the populations on channels this mouse panel does not stain (NK, monocyte
and granulocyte gates need CD56, CD14, CD16, HLA-DR): no threshold, bound or fallback
is changed, and the viability dye ``l/d`` is found through the shipped synonyms.

On this file the absolute scatter bounds the strategies used to carry cut the single
lymphocyte mode (Lymphocytes F1 0.21, T cells 0.26, B cells 0.24); the relative rules
find no second mode, say so, and place the cut at the mode's edge.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import cytogate
from cytogate.errors import MarkerError
from cytogate.gates.dimensions import resolve_dimension
from cytogate.strategy.flowjo_wsp import read_wsp

REALDATA = Path(__file__).resolve().parents[2].parent / "shared" / "realdata" / "SofieVG+FlowSOM" / "inst" / "extdata"
STRATEGIES = Path(cytogate.__file__).resolve().parent / "gating_strategies"
MANUAL = "/Lymphocytes/Singlets/Singlets2"

# population -> minimal F1 (measured: 0.999, 0.986, 0.982, 0.964, 0.979)
FLOORS = {"Lymphocytes": 0.97, "Singlets": 0.97, "Live": 0.96, "T cells": 0.94, "B cells": 0.96}


@pytest.fixture(scope="module")
def real():
    fcs, wsp = REALDATA / "68983.fcs", REALDATA / "gating.wsp"
    if not (fcs.is_file() and wsp.is_file()):
        pytest.skip(f"real data with manual gates not found under {REALDATA}")
    sample = cytogate.read_fcs(fcs)
    manual = cytogate.gate(read_wsp(wsp).strategy, sample)
    reference = {
        "Lymphocytes": manual.masks["/Lymphocytes"],
        "Singlets": manual.masks["/Lymphocytes/Singlets"],
        "Live": manual.masks[MANUAL],  # the analyst removed no event as dead: every singlet is live
        "T cells": manual.masks[f"{MANUAL}/NK1_1-/T cells"] | manual.masks[f"{MANUAL}/NK1_1+/NK T cells"],
        "B cells": manual.masks[f"{MANUAL}/NK1_1-/B cells"],
    }
    return sample, reference


def _stained_part(strategy, sample):
    """The strategy without the populations (and their descendants) on channels the file lacks."""
    gone: set[str] = set()
    kept = []
    for pop in strategy.populations:
        try:
            for dim in pop.gate.dimensions:
                resolve_dimension(dim.name, sample, strategy.aliases)
        except MarkerError:
            if not pop.optional:
                gone.add(pop.path)
        if pop.parent in gone:
            gone.add(pop.path)
        if pop.path not in gone:
            kept.append(pop)
    return replace(strategy, populations=tuple(kept), source_text=""), gone


def _f1(gated: np.ndarray, truth: np.ndarray) -> float:
    return 2.0 * int(np.sum(gated & truth)) / int(gated.sum() + truth.sum())


def test_ready_made_strategy_matches_manual_gates_on_a_real_file(real):
    sample, reference = real
    strategy = cytogate.load_strategy(STRATEGIES / "nk_monocytes.yaml")
    stained, removed = _stained_part(strategy, sample)
    assert {p.rsplit("/", 1)[1] for p in removed} >= {"NK", "Monocytes", "Granulocytes"}
    result = cytogate.gate(stained, sample)
    paths = {pop.name: pop.path for pop in stained.populations}
    scores = {name: _f1(result.masks[paths[name]], truth) for name, truth in reference.items()}
    low = {k: round(v, 3) for k, v in scores.items() if v < FLOORS[k]}
    assert not low, f"F1 below the floor: {low} (all: { {k: round(v, 3) for k, v in scores.items()} })"
    # every data-driven gate followed the data; none reported a fit it did not make
    fits = [f for gate in result.fitted.values() for f in gate.get("fits", [])]
    assert fits and all(f["status"] == "fitted" for f in fits)
    lymph = next(f for f in result.fitted[paths["Lymphocytes"]]["fits"])
    assert lymph["method"] == "tail" and "1 density mode" in lymph["reason"]


def test_a_required_channel_the_panel_lacks_stays_a_clear_failure(real):
    sample, _ = real
    strategy = cytogate.load_strategy(STRATEGIES / "nk_monocytes.yaml")
    with pytest.raises(MarkerError, match="HLA-DR|CD56|CD14|CD16") as caught:
        cytogate.gate(strategy, sample)
    assert "population" in caught.value.location
