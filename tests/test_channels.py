"""The one channel resolver: gates, compensation and statistics find the same column for a name."""

from __future__ import annotations

import numpy as np
import pytest

from cytogate.channels import ChannelResolver, normalize_channel_name, resolve_channel
from cytogate.compensation import Compensator, Spillover, match_channels
from cytogate.errors import MarkerError
from cytogate.fcs import Sample
from cytogate.gates.dimensions import resolve_dimension

CHANNELS = ["FSC-A", "FITC-A", "PE-A", "APC-A"]
MARKERS = [None, "CD3", "CD19", "CD4"]


def test_resolution_order():
    r = ChannelResolver(CHANNELS, MARKERS, {"BAFF-R": ("CD268", "BAFF-R", "CD19"), "T": "CD3"})
    assert r.index("PE-A") == 2 and r.index("CD19") == 2  # $PnN, then $PnS
    assert r.index("BAFF-R") == 2 and r.index("T") == 1  # aliases
    assert r.index("Comp-FITC-A") == 1 and r.index("<APC-A>") == 3 and r.index("comp-<pe-a>") == 2  # FlowJo names
    assert r.index("cd4") == 3  # unique case-insensitive marker
    with pytest.raises(MarkerError, match="not found; the file has: FSC-A, FITC-A \\(CD3\\)"):
        r.index("CD45")
    assert r.find("CD45") is None


def test_ambiguity_is_an_error_never_a_guess():
    with pytest.raises(MarkerError, match="several channels"):
        ChannelResolver(["FITC-A", "PE-A"], ["CD3", "CD3"]).index("CD3")
    with pytest.raises(MarkerError, match="several channels"):
        ChannelResolver(["Comp-PE-A", "<PE-A>"]).index("PE-A")


def test_gates_compensation_and_statistics_agree_on_a_flowjo_name():
    spill = Spillover(np.array([[1.0, 0.1], [0.2, 1.0]]), ("Comp-FITC-A", "<PE-A>"))
    sample = Sample.from_arrays(np.ones((3, 4)), CHANNELS, markers=MARKERS, spillover=spill)
    gate_column = resolve_dimension("Comp-PE-A", sample)
    assert gate_column == resolve_channel("Comp-PE-A", sample) == 2
    assert match_channels(spill, CHANNELS) == (1, 2)
    assert Compensator(spill, CHANNELS).weights(gate_column) is not None
    assert normalize_channel_name(" Comp-<PE-A> ") == "PE-A"
