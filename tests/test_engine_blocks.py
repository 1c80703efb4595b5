"""Streaming (block-by-block) evaluation is exactly whole-file evaluation, and hashes the file on the way.

Static strategies run on consecutive blocks of events (``cytogate.engine``);
these tests force tiny, odd block sizes so that every block boundary case is
exercised, and compare with the whole-column path of :class:`cytogate.engine.execute.Execution`
and with the Gating-ML 2.0 truth vectors.  ``Sample.blocks`` must decode every
storage layout the reader supports exactly as ``Sample.events`` does, and its
digest must be the file's SHA-256.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "strategy"))

from gml_data1 import data1_sample, gml_path, truth_table, truth_vector  # noqa: E402

import cytogate  # noqa: E402
from cytogate.engine import stream  # noqa: E402
from cytogate.fcs import Sample, read_fcs, write_fcs  # noqa: E402
from cytogate.gates import Dimension, PolygonGate, RectangleGate  # noqa: E402
from cytogate.engine.execute import Execution  # noqa: E402
from cytogate.engine.compile import compile_plan
from cytogate.compensation import Spillover  # noqa: E402
from cytogate.strategy import Population, Strategy, TransformSpec  # noqa: E402
from conftest import corpus_path  # noqa: E402


def _whole(strategy, sample):
    return Execution(compile_plan(strategy, sample), sample).run().masks


@pytest.fixture
def tiny_blocks(monkeypatch):
    def use(n: int) -> None:
        monkeypatch.setattr(stream, "BLOCK_EVENTS", n)
    return use


def _gml_files() -> list[str]:
    try:
        rows = truth_table()
    except pytest.skip.Exception:
        return []
    return sorted({f for r in rows for f in r["defined_in"].split()})


@pytest.mark.parametrize("gml_file", _gml_files() or ["(corpus absent)"])
def test_gatingml_compliance_in_blocks(gml_file, tiny_blocks):
    if gml_file == "(corpus absent)":
        pytest.skip("conformance corpus not available")
    tiny_blocks(997)  # 13,367 events: 14 blocks, the last one short
    strategy = cytogate.load_strategy(gml_path(gml_file))
    sample = data1_sample()
    digest = hashlib.sha256()
    result = cytogate.gate(strategy, sample, digest=digest)
    whole = _whole(strategy, data1_sample())
    assert set(result.masks) == set(whole)
    for path, mask in whole.items():
        assert np.array_equal(result.masks[path], mask), path
    assert digest.hexdigest() == hashlib.sha256(Path(sample.path).read_bytes()).hexdigest()
    by_name = {p.name: p.path for p in strategy.populations}
    for row in truth_table():
        if gml_file in row["defined_in"].split() and row["gate_id"] in by_name:
            truth = truth_vector(row["truth_file"])
            assert np.array_equal(result.masks[by_name[row["gate_id"]]], truth), row["gate_id"]


CORPUS_FILES = [
    "whitews+FlowKit/data/gate_ref/data1.fcs",  # int16 big-endian, log-amplified ($PnE), $PnG
    "eyurtsev+fcsparser/fcsparser/tests/data/FlowCytometers/Cytek_xP5/Cytek_xP5.fcs",  # 24-bit
    "eyurtsev+fcsparser/fcsparser/tests/data/FlowCytometers/cyflow_cube_8/cyflow_cube_8.fcs",  # mixed 8/16/32
    "eyurtsev+fcsparser/fcsparser/tests/data/FlowCytometers/FACS_Diva/facs_diva_test.fcs",  # float32 BE
    "tlnagy+FCSFiles.jl/test/testdata/Attune.fcs",  # float32 LE: zero-copy blocks
    "whitews+FlowIO/data/fcs_files/variable_int_example.fcs",  # mixed 16/32, $PnR masks
    "eyurtsev+fcsparser/fcsparser/tests/data/FlowCytometers/fake_bitmask_error/fcs1_cleaned.lmd",  # masked ints
    "whitews+FlowIO/data/fcs_files/B01 KC-A-W---91-US.fcs",  # uint32 BE, $TIMESTEP
]


@pytest.mark.filterwarnings("ignore::cytogate.errors.FcsWarning")  # anonymised keywords in some files
@pytest.mark.parametrize("relative", CORPUS_FILES)
@pytest.mark.parametrize("scale", [True, False])
def test_blocks_decode_like_events_and_hash_the_file(relative, scale):
    path = corpus_path(relative)
    expected = read_fcs(path, scale=scale).events
    for n_rows in (1, 333, 4096, 10**7):
        if n_rows == 1 and expected.shape[0] > 5000:
            continue  # one event per block is slow on large files; 333 covers odd boundaries
        digest = hashlib.sha256()
        parts = [np.array(block) for _, block in read_fcs(path, scale=scale).blocks(n_rows, digest=digest)]
        got = np.concatenate(parts) if parts else np.empty((0, expected.shape[1]))
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
        assert digest.hexdigest() == hashlib.sha256(path.read_bytes()).hexdigest()


def test_blocks_of_selected_channels(tmp_path):
    events = np.arange(60, dtype=np.float32).reshape(12, 5)
    path = tmp_path / "five.fcs"
    write_fcs(path, events, ["A", "B", "C", "D", "E"])
    sample = read_fcs(path, channels=["D", "B"])
    got = np.concatenate([np.array(b) for _, b in sample.blocks(5)])
    np.testing.assert_array_equal(got, events[:, [3, 1]])
    assert [start for start, _ in sample.blocks(5)] == [0, 5, 10]


def test_blocks_of_decoded_and_in_memory_samples_are_views():
    events = np.random.default_rng(0).normal(size=(50, 3))
    sample = Sample.from_arrays(events, ["a", "b", "c"])
    digest = hashlib.sha256()
    blocks = list(sample.blocks(16, digest=digest))
    assert [s for s, _ in blocks] == [0, 16, 32, 48]
    assert all(np.shares_memory(b, sample.events) for _, b in blocks)
    assert digest.hexdigest() == sample.sha256()
    with pytest.raises(ValueError):
        next(sample.blocks(0))


def _bench_like(n: int, seed: int = 0) -> tuple[Sample, Strategy]:
    """Compensated, logicle-transformed hierarchy like the 6-gate benchmark, with NaN and extremes."""
    rng = np.random.default_rng(seed)
    events = np.column_stack([rng.uniform(0, 120_000, n), rng.uniform(0, 120_000, n), rng.uniform(0, 80_000, n),
                              rng.lognormal(7, 2, n) - 300, rng.lognormal(7, 2, n) - 300,
                              rng.lognormal(7, 2, n) - 300]).astype(np.float32)
    events[::97, 3] = np.nan
    events[::89, 4] = np.inf
    spill = Spillover(np.array([[1, 0.1, 0.02], [0.05, 1, 0.1], [0, 0.03, 1.0]]), ("F1", "F2", "F3"), source="test")
    sample = Sample.from_arrays(events, ["FSC-A", "FSC-H", "SSC-A", "F1", "F2", "F3"], spillover=spill)

    def fl(ch: str) -> Dimension:
        return Dimension(ch, "FCS", "logicle")

    fsc_a, fsc_h, ssc_a = Dimension("FSC-A"), Dimension("FSC-H"), Dimension("SSC-A")
    pops = (
        Population("Cells", "/", PolygonGate((fsc_a, ssc_a), ((10000, 5000), (110000, 5000), (100000, 70000),
                                                              (20000, 60000)))),
        Population("Singlets", "/Cells", PolygonGate((fsc_a, fsc_h), ((0, 0), (120000, 60000), (120000, 120000),
                                                                      (0, 30000)))),
        Population("B", "/Cells/Singlets", RectangleGate((fl("F1"), fl("F2")), (None, 0.4), (0.45, None))),
        Population("B+", "/Cells/Singlets/B", RectangleGate((fl("F3"),), (0.5,), (None,))),
        Population("T", "/Cells/Singlets", RectangleGate((fl("F1"),), (0.45,), (None,))),
        Population("T sub", "/Cells/Singlets/T", RectangleGate((fl("F2"), fl("F3")), (0.3, None), (None, 0.6))),
        Population("Raw box", "/", RectangleGate((Dimension("F1", "uncompensated"),), (100.0,), (5000.0,))),
    )
    logicle = TransformSpec("logicle", "logicle", (("t", 262144.0), ("w", 0.5), ("m", 4.5), ("a", 0.0)))
    return sample, Strategy(pops, {"logicle": logicle})


@pytest.mark.parametrize("n_rows", [1, 7, 1000, 4096, 1 << 20])
def test_compensated_logicle_hierarchy_in_blocks(n_rows, tiny_blocks):
    sample, strategy = _bench_like(3000 if n_rows == 1 else 20_000)
    tiny_blocks(n_rows)
    result = cytogate.gate(strategy, sample)
    whole = _whole(strategy, sample)
    assert list(result.masks) == list(whole)  # same order: statistics rows follow it
    for path, mask in whole.items():
        assert np.array_equal(result.masks[path], mask), path
    assert result.masks["/Cells/Singlets/B/B+"].any() and result.masks["/Cells/Singlets/T/T sub"].any()
    counts = result.counts.set_index("population")["count"]
    assert counts["/Cells/Singlets/T"] == int(whole["/Cells/Singlets/T"].sum())


def test_file_in_blocks_matches_whole_and_hashes(tmp_path, tiny_blocks):
    sample, strategy = _bench_like(30_000, seed=1)
    path = tmp_path / "bench_like.fcs"
    write_fcs(path, np.asarray(sample.events), list(sample.channels), spillover=sample.spillover)
    tiny_blocks(4099)
    digest = hashlib.sha256()
    result = cytogate.gate(strategy, read_fcs(path), digest=digest)
    whole = _whole(strategy, read_fcs(path))
    for p, mask in whole.items():
        assert np.array_equal(result.masks[p], mask), p
    assert digest.hexdigest() == hashlib.sha256(path.read_bytes()).hexdigest()


def test_data_driven_strategy_is_fitted_from_blocks_and_still_hashes(tmp_path):
    from cytogate.adaptive.specs import AdaptiveRectangleGate, ThresholdRule

    rng = np.random.default_rng(3)
    values = np.concatenate([rng.normal(1000, 100, 4000), rng.normal(20000, 2000, 4000)])
    events = np.column_stack([values, rng.uniform(0, 1, values.size)]).astype(np.float32)
    path = tmp_path / "bimodal.fcs"
    write_fcs(path, events, ["CD3", "X"])
    gate = AdaptiveRectangleGate((Dimension("CD3"),), (ThresholdRule("quantile", (("q", 0.5),)),), (None,))
    strategy = Strategy((Population("Pos", "/", gate),))
    assert not stream.streamable(strategy, read_fcs(path))
    digest = hashlib.sha256()
    result = cytogate.gate(strategy, read_fcs(path), digest=digest)
    assert result.fitted
    assert digest.hexdigest() == hashlib.sha256(path.read_bytes()).hexdigest()
    whole = Execution(compile_plan(strategy, read_fcs(path)), read_fcs(path)).run()
    assert result.fitted == whole.fitted and np.array_equal(result.masks["/Pos"], whole.masks["/Pos"])


@pytest.mark.parametrize("n_rows", [1000, 4099, 1 << 16])
def test_ready_made_panel_fitted_in_passes_equals_whole_columns(tmp_path, tiny_blocks, n_rows):
    # nine chained data-driven gates (valleys, singlets) under scatter, live and lineage gates
    from cytogate.synth import synthesize_sample

    path = tmp_path / "lupus.fcs"
    synthesize_sample("lupus_pd", n_events=30_000, seed=5).write(path)
    strategy = cytogate.load_strategy(Path(cytogate.__file__).resolve().parent / "gating_strategies" / "lupus_pd.yaml")
    tiny_blocks(n_rows)
    streamed = cytogate.gate(strategy, read_fcs(path))
    whole = Execution(compile_plan(strategy, read_fcs(path)), read_fcs(path)).run()
    assert len(streamed.fitted) >= 5 and streamed.fitted == whole.fitted
    for p, mask in whole.masks.items():
        assert np.array_equal(streamed.masks[p], mask), p


def test_fit_on_compensated_values_of_a_wide_file_equals_whole_columns(tmp_path):
    # few of many channels read: the whole-column path reads single columns (float32 here), and must
    # compensate in float64 like the block path, or the fitted threshold differs in its last digits
    from cytogate.adaptive.specs import AdaptiveRectangleGate, ThresholdRule

    rng = np.random.default_rng(0)
    channels = ["F1", "F2", "F3"] + [f"X{i}" for i in range(17)]
    events = rng.lognormal(7, 1, (5000, len(channels))).astype(np.float32)
    spill = Spillover(np.array([[1, 0.1, 0.0], [0.05, 1, 0.0], [0.0, 0.0, 1.0]]), ("F1", "F2", "F3"), source="t")
    path = tmp_path / "wide.fcs"
    write_fcs(path, events, channels, spillover=spill)
    gate = AdaptiveRectangleGate((Dimension("F1", "FCS"),), (ThresholdRule("quantile", (("q", 0.5),)),), (None,))
    strategy = Strategy((Population("Pos", "/", gate),))
    streamed = cytogate.gate(strategy, read_fcs(path))
    whole = Execution(compile_plan(strategy, read_fcs(path)), read_fcs(path)).run()
    assert streamed.fitted == whole.fitted
    assert np.array_equal(streamed.masks["/Pos"], whole.masks["/Pos"])


def test_fit_passes_name_the_population_whose_fit_fails(tmp_path):
    from cytogate.adaptive.specs import AdaptiveRectangleGate, ThresholdRule
    from cytogate.errors import CytogateError

    events = np.column_stack([np.full(100, np.nan), np.ones(100)]).astype(np.float32)  # nothing to fit on
    path = tmp_path / "empty.fcs"
    write_fcs(path, events, ["CD3", "X"])
    gate = AdaptiveRectangleGate((Dimension("CD3"),), (ThresholdRule("quantile", (("q", 0.5),)),), (None,))
    strategy = Strategy((Population("Pos", "/", gate),))
    with pytest.raises(CytogateError) as streamed:
        cytogate.gate(strategy, read_fcs(path))
    with pytest.raises(CytogateError) as whole:
        Execution(compile_plan(strategy, read_fcs(path)), read_fcs(path)).run()
    assert type(streamed.value) is type(whole.value) and streamed.value.location == whole.value.location
    assert "/Pos" in str(streamed.value)


def test_raw_stats_values_streamed_equal_scaled_values(tmp_path):
    from cytogate.batch.stats import intensity_stats, raw_values, scaled_values

    sample, strategy = _bench_like(70_000, seed=2)  # more than one 65,536-event block
    path = tmp_path / "stats.fcs"
    write_fcs(path, np.asarray(sample.events), list(sample.channels), spillover=sample.spillover)
    channels = ["F2", "FSC-A", "F3"]
    expected, _ = scaled_values(strategy, read_fcs(path), "raw", channels)
    got = raw_values(read_fcs(path), channels)
    np.testing.assert_array_equal(got, expected)
    masks = cytogate.gate(strategy, read_fcs(path)).masks
    a = intensity_stats(got, channels, masks, sample="s")
    b = intensity_stats(expected, channels, masks, sample="s")
    assert a.equals(b)
    assert raw_values(Sample.from_arrays(np.empty((0, 2)), ["a", "b"]), ["b"]).shape == (0, 1)


@pytest.mark.parametrize("workers,qc", [(1, None), (2, None), (1, "flag")])
def test_batch_records_the_sha256_of_every_input(tmp_path, workers, qc):
    sys.path.insert(0, str(Path(__file__).resolve().parent / "batch"))
    from batch_helpers import make_inputs, write_strategy

    from cytogate.batch import BatchOptions, QcSpec, run_batch

    strategy = write_strategy(tmp_path)
    files = make_inputs(tmp_path / "fcs", count=3, n=3000)
    options = BatchOptions(workers=workers, progress=False, qc=None if qc is None else QcSpec(mode=qc))
    result = run_batch(strategy, [str(f) for f in files], tmp_path / "out", options=options)
    assert result.exit_code == 0
    by_path = {Path(e["path"]).name: e["sha256"] for e in result.manifest["inputs"]}
    assert by_path == {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
    # the counts equal gating each file directly
    counts = __import__("pandas").read_csv(tmp_path / "out" / "counts.csv")
    first = cytogate.gate(cytogate.load_strategy(strategy), read_fcs(files[0])).counts
    mine = counts[counts["file"] == str(files[0].resolve())].reset_index(drop=True)
    if qc is None:
        assert list(mine["count"]) == list(first["count"])
