"""FlowJo examples of the shared corpus: following the reference onto itself is the identity."""

from __future__ import annotations

import pytest

pytest.importorskip("SimpleITK", reason="template following needs the 'follow' extra")
pytest.importorskip("skimage", reason="template following needs the 'follow' extra")
from conftest import corpus_path

import cytogate
from cytogate.follow import Reference
from cytogate.follow.core import MIN_REFERENCE_EVENTS
from cytogate.strategy.flowjo_wsp import read_wsp

CASES = [
    ("simple_diamond_example", "simple_diamond_example_quad_gate.wsp", "test_data_diamond_01.fcs"),
    ("simple_diamond_example", "test_data_diamond_asinh_rect.wsp", "test_data_diamond_01.fcs"),
    ("simple_diamond_example", "test_data_diamond_biex_rect.wsp", "test_data_diamond_01.fcs"),
    ("simple_line_example", "simple_poly_and_rect.wsp", "data_set_simple_line_100.fcs"),
    ("simple_line_example", "single_ellipse_51_events.wsp", "data_set_simple_line_100.fcs"),
]


@pytest.mark.corpus
@pytest.mark.parametrize(("folder", "workspace", "fcs"), CASES)
def test_following_the_reference_onto_itself_changes_no_count(folder, workspace, fcs):
    strategy = read_wsp(corpus_path(f"whitews+FlowKit/data/{folder}/{workspace}")).strategy
    sample = cytogate.read_fcs(corpus_path(f"whitews+FlowKit/data/{folder}/{fcs}"))
    static = cytogate.gate(strategy, sample)
    # gates whose parent is too small to follow are pinned, as a user would have to
    small = {p.path: None for p in strategy.populations
             if (sample.n_events if p.parent == "/" else static.count(p.parent)) < MIN_REFERENCE_EVENTS}
    reference = Reference(strategy, sample, per_population=small)
    followed = cytogate.gate(strategy, sample, follow=reference)
    assert [g for g in followed.follow if g.status == "followed"], "nothing was followed: the check is empty"
    for g in followed.follow:
        assert g.status in ("followed", "template"), (g.path, g.status, g.reason)
        assert g.gate == g.template, g.path
    for path in strategy.paths:
        assert followed.count(path) == static.count(path), path
