"""The library calls behind `cytogate convert` and `cytogate info`: save_strategy, describe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import cytogate
from cytogate.errors import StrategyError
from cytogate.fcs import write_fcs
from cytogate.strategy import load_strategy, save_strategy

STRATEGIES = Path(__file__).resolve().parents[2] / "src" / "cytogate" / "gating_strategies"

STATIC = """\
cytogate_strategy: 1
transform: {logicle: {T: 262144, W: 0.5, M: 4.5, A: 0}}
scatter_transform: none
populations:
  Cells:
    polygon: {x: FSC-A, y: SSC-A, vertices: [[1000, 1000], [200000, 2000], [150000, 150000]]}
  T:
    parent: Cells
    rectangle: {CD3: {min: 0.4}, CD19: {max: 0.3}}
"""


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".xml"])
def test_save_strategy_round_trips_by_extension(tmp_path, suffix):
    strategy = load_strategy(STATIC)
    out = save_strategy(strategy, tmp_path / f"s{suffix}", header="made in a test")
    again = load_strategy(out)
    assert again.paths == strategy.paths
    assert again.format == ("gatingml" if suffix == ".xml" else "yaml")
    text = out.read_text()
    assert text.startswith("# made in a test") == (suffix != ".xml")


def test_save_strategy_refuses_what_it_cannot_write(tmp_path):
    with pytest.raises(StrategyError, match="extension"):
        save_strategy(load_strategy(STATIC), tmp_path / "s.txt")
    with pytest.raises(StrategyError, match="data-driven"):
        save_strategy(load_strategy(STRATEGIES / "lupus_pd.yaml"), tmp_path / "s.xml")
    assert not (tmp_path / "s.xml").exists()


def test_describe_reads_metadata_only(tmp_path):
    path = tmp_path / "m.fcs"
    events = np.arange(30, dtype=np.float32).reshape(10, 3)
    write_fcs(path, events, channels=["FSC-A", "FL1-A", "FL2-A"], markers=["", "CD3", "CD19"])
    info = cytogate.describe(path)
    assert info["n_events"] == 10 and info["n_channels"] == 3
    assert [c["marker"] for c in info["channels"]][1:] == ["CD3", "CD19"]
    assert info["spillover"] is None
