"""Incremental re-gating after edits equals gating the edited strategy from scratch."""
# ruff: noqa: F811  (the fixtures imported from edit_helpers are taken as test arguments)

from __future__ import annotations

import numpy as np
from edit_helpers import samples, strategy_file  # noqa: F401 (pytest fixtures, used as arguments)

from cytogate import gate, load_strategy
from cytogate.edit.gating import changed_populations
from cytogate.edit.session import EditorSession, EditRefused


def _fresh_masks(session: EditorSession) -> dict[str, np.ndarray]:
    strategy = load_strategy(session.doc.text())
    return gate(strategy, session.gating().sample).masks


def test_random_edits_match_a_fresh_run(strategy_file, samples):
    session = EditorSession(strategy_file, samples)
    rng = np.random.default_rng(17)
    edits = 0
    for step in range(14):
        kind = step % 4
        if kind == 0:
            g = session.doc.gate("Cells")
            verts = g["polygon"]["vertices"]
            i = int(rng.integers(len(verts)))
            verts[i] = [float(v) * float(rng.uniform(0.8, 1.2)) for v in verts[i]]
            path, new = "/Cells", g
        elif kind == 1:
            path, new = "/Cells/Leukocytes", {"range": {"CD45": {"min": round(float(rng.uniform(0.2, 0.7)), 3)}}}
        elif kind == 2:
            cut = round(float(rng.uniform(0.3, 0.6)), 3)
            path, new = "/Cells/Leukocytes/T cells/CD4 T", {"quadrant": {
                "dividers": {"CD4": cut, "CD8": 0.45}, "populations": {"CD4+CD8-": "CD4 T", "CD4-CD8+": "CD8 T"}}}
        else:
            lo = round(float(rng.uniform(0.3, 0.45)), 3)
            path, new = "/Cells/Leukocytes/T cells", {"range": {"CD3": {"min": {"density_valley": {
                "bounds": [lo, 0.58], "fallback": 0.45}}}}}
        try:
            session.set_gate(path, new)
            edits += 1
        except EditRefused:
            continue  # a random polygon may cross itself: refused, state unchanged
        masks = session.gating().masks
        fresh = _fresh_masks(session)
        assert masks.keys() == fresh.keys()
        for p in fresh:
            assert np.array_equal(masks[p], fresh[p]), (step, p)
        if step == 7:
            session.select(1)  # the other sample catches up with all edits at once
            fresh = _fresh_masks(session)
            assert all(np.array_equal(session.gating().masks[p], fresh[p]) for p in fresh)
    assert edits >= 10


def test_only_the_edited_branch_is_gated_again(strategy_file, samples):
    session = EditorSession(strategy_file, samples[:1])
    old = session.strategy
    session.set_gate("/Cells/Leukocytes/T cells/CD4 T", {"quadrant": {
        "dividers": {"CD4": 0.5, "CD8": 0.45}, "populations": {"CD4+CD8-": "CD4 T", "CD4-CD8+": "CD8 T"}}})
    redo = changed_populations(old, session.strategy)
    assert redo == {"/Cells/Leukocytes/T cells/CD4 T", "/Cells/Leukocytes/T cells/CD8 T",
                    "/Cells/Leukocytes/T cells/CD4 T/Activated"}
    redo = changed_populations(session.strategy, load_strategy(session.doc.text().replace(
        "range: {CD45: {min: 0.4}}", "range: {CD45: {min: 0.5}}")))
    # the boolean "Not T" refers to T cells, under the edited Leukocytes: gated again too
    assert redo == {p for p in session.strategy.paths if p.startswith("/Cells/Leukocytes")}
