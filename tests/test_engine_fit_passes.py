"""The ready-made data-driven strategies give the same fits and masks however the file is read.

``cytogate.gate`` fits data-driven gates from passes over blocks of the file
(:mod:`cytogate.engine.stream`); the oracles are the whole-column evaluation
(:class:`~cytogate.engine.execute.Execution` with the fits inline, on the decoded
matrix) and its brute-force variant (every event transformed, no bound mapping).
Files larger than one block, files of one block, drifted files (fallbacks and
``otherwise`` rules taken) and a panel without an optional channel are covered,
so a faster pass structure must reproduce every fitted value and every count bit
for bit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import cytogate
from cytogate.engine import stream
from cytogate.engine.compile import compile_plan
from cytogate.engine.execute import Execution
from cytogate.fcs import read_fcs
from cytogate.synth import synthesize_sample

READY_MADE = Path(cytogate.__file__).resolve().parent / "gating_strategies"
PANEL_OF = {"lupus_pd": "lupus_pd", "b_cells": "b_cell", "t_cells": "t_cell", "dendritic_cells": "dc",
            "nk_monocytes": "nk_mono"}


def _file(tmp_path: Path, panel: str, n_events: int, seed: int, **options: object) -> Path:
    path = tmp_path / f"{panel}_{n_events}_{seed}.fcs"
    synthesize_sample(panel, n_events=n_events, seed=seed, **options).write(path)  # type: ignore[arg-type]
    return path


def _assert_same(streamed: cytogate.GatingResult, oracle: Execution) -> None:
    assert streamed.fitted == oracle.fitted  # every fitted value, fallback and diagnostic
    assert list(streamed.masks) == list(oracle.masks)
    for path, mask in oracle.masks.items():
        assert np.array_equal(streamed.masks[path], mask), path


@pytest.mark.parametrize("name", sorted(PANEL_OF))
def test_ready_made_fits_over_several_blocks_equal_whole_columns(tmp_path, name):
    strategy = cytogate.load_strategy(READY_MADE / f"{name}.yaml")
    path = _file(tmp_path, PANEL_OF[name], 2 * stream.BLOCK_EVENTS + 1234, seed=11)
    streamed = cytogate.gate(strategy, read_fcs(path))
    assert streamed.fitted, "the strategy has data-driven gates"
    _assert_same(streamed, Execution(compile_plan(strategy, read_fcs(path)), read_fcs(path)).run())


@pytest.mark.parametrize("shift", [None, "random", "fsc=0.8,ssc=1.25,CD268=0.1,CD25=0.15,CD127=0.2"])
@pytest.mark.parametrize("n_events", [20_000, 150_000])
def test_lupus_pd_fits_equal_the_brute_force_path(tmp_path, shift, n_events):
    strategy = cytogate.load_strategy(READY_MADE / "lupus_pd.yaml")
    path = _file(tmp_path, "lupus_pd", n_events, seed=23, shift=shift)
    streamed = cytogate.gate(strategy, read_fcs(path))
    brute = Execution(compile_plan(strategy, read_fcs(path)), read_fcs(path), brute_force=True).run()
    _assert_same(streamed, brute)
    counts = streamed.counts.set_index("population")["count"]
    assert counts["/Cells/Singlets/Live/Lymphocytes/T cells"] > 0


def test_lupus_pd_without_an_optional_channel_in_odd_blocks(tmp_path, monkeypatch):
    # FSC-H missing: the optional singlet gate is dropped and Live hangs on Cells
    strategy = cytogate.load_strategy(READY_MADE / "lupus_pd.yaml")
    path = _file(tmp_path, "lupus_pd", 30_000, seed=4, drop=("FSC-H",))
    monkeypatch.setattr(stream, "BLOCK_EVENTS", 7001)
    streamed = cytogate.gate(strategy, read_fcs(path))
    assert streamed.skipped
    _assert_same(streamed, Execution(compile_plan(strategy, read_fcs(path)), read_fcs(path)).run())


def test_a_strategy_gated_on_many_files_fits_each_file_afresh(tmp_path):
    # one strategy object on files of different drift: no fit leaks from one file into the next
    strategy = cytogate.load_strategy(READY_MADE / "lupus_pd.yaml")
    paths = [_file(tmp_path, "lupus_pd", 20_000, seed=s, shift="random") for s in (1, 2)]
    first, second = (cytogate.gate(strategy, read_fcs(p)) for p in paths)
    assert first.fitted != second.fitted
    for path, result in zip(paths, (first, second)):
        _assert_same(result, Execution(compile_plan(strategy, read_fcs(path)), read_fcs(path)).run())


def test_fits_one_level_down_are_made_from_the_values_a_pass_carries(tmp_path, monkeypatch):
    # lupus_pd chains six data-driven gates; each pass also carries the values the next level reads,
    # and the last fit pass every value the gates below read, so three reads of the file suffice
    strategy = cytogate.load_strategy(READY_MADE / "lupus_pd.yaml")
    path = _file(tmp_path, "lupus_pd", 2 * stream.BLOCK_EVENTS + 99, seed=5)
    sample = read_fcs(path)
    reads = []
    blocks = type(sample).blocks

    def counted(self, *args, **kwargs):
        reads.append(1)
        return blocks(self, *args, **kwargs)

    monkeypatch.setattr(type(sample), "blocks", counted)
    streamed = cytogate.gate(strategy, sample)
    assert len(reads) == 3
    monkeypatch.setattr(type(sample), "blocks", blocks)
    _assert_same(streamed, Execution(compile_plan(strategy, read_fcs(path)), read_fcs(path)).run())


def test_fits_are_listed_in_pass_order_counting_boolean_operands(tmp_path, monkeypatch):
    """A fit under a boolean of a fitted gate comes one pass later than its parent chain alone says."""
    from cytogate.strategy.yaml_format import load_yaml_strategy

    quantile = "{quantile: {q: 0.3, fallback: 0.3}}"
    strategy = load_yaml_strategy(
        "cytogate_strategy: 1\nname: order\ncompensation: none\nscatter_transform: none\n"
        "transforms: {lg: {logicle: {T: 262144, W: 0.5, M: 4.5, A: 0}}}\ntransform: lg\npopulations:\n"
        f"  A: {{range: {{FSC-A: {{min: {quantile}}}}}}}\n"
        f"  E: {{parent: A, range: {{SSC-A: {{max: {quantile}}}}}}}\n"
        "  N: {parent: A, not: E}\n"
        f"  F: {{parent: N, range: {{CD19: {{min: {quantile}}}}}}}\n"  # known after E's fit: pass 2
        f"  D: {{parent: A, range: {{CD4: {{min: {quantile}}}}}}}\n",  # pass 1, though written after F
        source="order.yaml")
    path = _file(tmp_path, "lupus_pd", 6000, 0)
    monkeypatch.setattr(stream, "BLOCK_EVENTS", 1000)  # several blocks: the fits come from passes
    streamed = cytogate.gate(strategy, read_fcs(path))
    assert [p.rsplit("/", 1)[1] for p in streamed.fitted] == ["A", "E", "D", "F"]
    sample = read_fcs(path)
    assert streamed.fitted == Execution(compile_plan(strategy, sample), sample, brute_force=True).run().fitted
