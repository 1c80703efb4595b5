"""Absolute counts: bead and dual-platform formulas, method on every row, applicability."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from batch_helpers import make_inputs, write_strategy

from cytogate.batch import AbsoluteOptions, BatchOptions, absolute_counts, run_batch


def _counts():
    return pd.DataFrame({
        "population": ["/Leukocytes", "/Leukocytes/Lymphocytes", "/Leukocytes/Lymphocytes/B", "/Beads"],
        "name": ["Leukocytes", "Lymphocytes", "B", "Beads"],
        "count": [8000, 2000, 200, 1000],
    })


def test_beads_formula():
    per_ul, method = absolute_counts(_counts(), {"beads_per_test": 50000, "volume_ul": 50})
    np.testing.assert_allclose(per_ul[:3], np.array([8000, 2000, 200]) / 1000 * 50000 / 50)
    assert np.isnan(per_ul[3]) and list(method) == ["beads", "beads", "beads", "none"]


def test_dual_platform_wbc_then_lymphocytes():
    per_ul, method = absolute_counts(_counts(), {"wbc_per_ul": 6000})
    np.testing.assert_allclose(per_ul[:3], [6000, 1500, 150])
    assert list(method[:3]) == ["dual_platform:wbc_per_ul/Leukocytes"] * 3 and method[3] == "none"
    per_ul, method = absolute_counts(_counts(), {"lymphocytes_per_ul": 1800})
    assert np.isnan(per_ul[0]) and per_ul[2] == pytest.approx(180)
    assert method[2] == "dual_platform:lymphocytes_per_ul/Leukocytes/Lymphocytes"


def test_beads_win_over_wbc_and_missing_values_give_none():
    _, method = absolute_counts(_counts(), {"beads_per_test": 1e4, "volume_ul": 100, "wbc_per_ul": 5000})
    assert method[0] == "beads"
    per_ul, method = absolute_counts(_counts(), {"beads_per_test": None, "volume_ul": 100})
    assert np.isnan(per_ul).all() and set(method) == {"none"}
    zero = _counts().assign(count=[8000, 2000, 200, 0])
    _, method = absolute_counts(zero, {"beads_per_test": 1e4, "volume_ul": 100})
    assert set(method) == {"none"}
    per_ul, method = absolute_counts(_counts(), {"wbc_per_ul": 5000}, AbsoluteOptions(wbc_reference="/Beads"))
    assert set(method) == {"dual_platform:wbc_per_ul/Beads"}  # asked for: beads are the reference
    np.testing.assert_allclose(per_ul, [40000, 10000, 1000, 5000])


def test_dual_platform_reaches_populations_beside_the_reference():
    # a lupus panel's layout: Leukocytes (CD45+) and scatter Lymphocytes are siblings under Live
    counts = pd.DataFrame({
        "population": ["/Live", "/Live/Leukocytes", "/Live/Lymphocytes", "/Live/Lymphocytes/B cells",
                       "/Live/Lymphocytes/pDC", "/Beads", "/Debris", "/Live/Beads"],
        "name": ["Live", "Leukocytes", "Lymphocytes", "B cells", "pDC", "Beads", "Debris", "Beads"],
        "count": [12000, 10000, 3000, 300, 10, 500, 4000, 1],
    })
    per_ul, method = absolute_counts(counts, {"wbc_per_ul": 6000}, AbsoluteOptions(bead_population="/Beads"))
    np.testing.assert_allclose(per_ul[1:5], [6000, 1800, 180, 6])
    assert set(method[1:5]) == {"dual_platform:wbc_per_ul/Live/Leukocytes"}
    # Live holds the reference; Debris is outside its parent; beads are not cells
    assert np.isnan(per_ul[[0, 5, 6]]).all() and set(method[[0, 5, 6]]) == {"none"}
    per_ul, method = absolute_counts(counts, {"lymphocytes_per_ul": 1500},
                                     AbsoluteOptions(bead_population="/Beads"))
    np.testing.assert_allclose(per_ul[1:5], [5000, 1500, 150, 5])
    assert np.isnan(per_ul[0]) and method[2] == "dual_platform:lymphocytes_per_ul/Live/Lymphocytes"


def test_run_writes_cells_per_ul_with_method(tmp_path):
    strategy = write_strategy(tmp_path)
    make_inputs(tmp_path / "fcs", count=2, n=3000)
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("file,sample,beads_per_test,volume_ul\nfcs/s00.fcs,A,50000,50\nfcs/s01.fcs,B,,\n")
    run_batch(strategy, [], tmp_path / "out", samples=sheet, options=BatchOptions(workers=1, progress=False))
    counts = pd.read_csv(tmp_path / "out" / "counts.csv")
    a = counts[counts["sample"] == "A"].set_index("population")
    beads = a.loc["/Beads", "count"]
    assert a.loc["/Cells", "cells_per_ul"] == pytest.approx(a.loc["/Cells", "count"] / beads * 1000)
    assert a.loc["/Cells", "absolute_method"] == "beads" and np.isnan(a.loc["/Beads", "cells_per_ul"])
    assert (counts.loc[counts["sample"] == "B", "absolute_method"] == "none").all()
