"""The run's tables streamed from the per-sample results equal the whole tables assembled in memory.

The oracle is the in-memory assembly (every record's tables concatenated,
then written in one call), as the driver did before it streamed; the
streamed files must be byte-identical to it while a table fits one Parquet
row group, and equal as tables (with row groups of a fixed size) beyond.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from study_helpers import make_study

import cytogate.batch.assemble as assemble
import cytogate.batch.table_feed as table_feed
import cytogate.batch.table_stream as table_stream
from cytogate.atomic import TMP_MARKER, atomic_file, write_csv, write_json, write_parquet
from cytogate.batch import BatchOptions, run_batch
from cytogate.batch.assemble import STATS_SCHEMA, counts_table, stats_table
from cytogate.batch.fits import fits_table
from cytogate.batch.gate_record import GATES_SCHEMA, GatesFileStream
from cytogate.batch.resume import ResultCache, SampleSummary
from cytogate.batch.study import plan_study
from cytogate.errors import OutputError
from cytogate.strategy.study import load_study
from cytogate.synth.trial import synthesize_trial

TABLES = ("counts.csv", "counts.parquet", "stats.parquet", "fits.parquet", "gates.json")


def _trial_study(folder: Path) -> Path:
    """Three ready-made panels (data-driven gates: fits and gates.json have rows) on a tiny synthetic trial."""
    synthesize_trial(folder / "fcs", arms={"Placebo": 1, "0.45 mg": 1}, visits=("Baseline", "Week 12"),
                     days=(0, 84), n_events=3000, seed=3, panel=["t_cell", "b_cell", "dc"], workers=1)
    ready = Path(__import__("cytogate").__file__).parent / "gating_strategies"
    panels = {"t_cell": "t_cells.yaml", "b_cell": "b_cells.yaml", "dc": "dendritic_cells.yaml"}
    study = folder / "study.yaml"
    study.write_text("cytogate_study: 1\nname: streamed\nsamples: fcs/samples.csv\npanel_column: panel\npanels:\n"
                     + "".join(f"  {p}: {ready / f}\n" for p, f in panels.items()))
    return study


def _in_memory_tables(study: Path, out: Path, into: Path) -> None:
    """The tables of run ``out`` assembled all at once from its cached records (the oracle)."""
    plan = plan_study(load_study(study))
    cache = ResultCache(out)
    records = [cache.load(t.sample) for t in plan.tasks]
    assert all(r is not None for r in records)
    counts = counts_table(records, plan.metadata, plan.sheet)
    stats = stats_table(records)
    stats.insert(1, "panel", pd.Series([plan.panel_of[s] for s in stats["sample"]], dtype=object))
    write_csv(into / "counts.csv", counts)
    write_parquet(into / "counts.parquet", counts)
    write_parquet(into / "stats.parquet", stats, metadata={"cytogate_stats_schema": str(STATS_SCHEMA),
                                                           "cytogate_stats_scale": "compensated"})
    write_parquet(into / "fits.parquet", fits_table([row for r in records for row in r.fits]))
    write_json(into / "gates.json", {"schema": GATES_SCHEMA, "samples": {r.sample: r.gates for r in records}})


@pytest.fixture(scope="module")
def trial_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("streamed")
    study = _trial_study(root)
    result = run_batch(study, [], root / "out", options=BatchOptions(workers=1, progress=False))
    assert result.exit_code == 0
    return study, root


def test_streamed_tables_are_byte_identical_to_the_in_memory_assembly(trial_run):
    study, root = trial_run
    _in_memory_tables(study, root / "out", root / "oracle")
    fits = pd.read_parquet(root / "out" / "fits.parquet")
    assert len(fits) and json.loads((root / "out" / "gates.json").read_text())["samples"]  # both have rows
    for name in TABLES:
        assert (root / "out" / name).read_bytes() == (root / "oracle" / name).read_bytes(), name


def test_tables_over_several_row_groups_equal_the_in_memory_tables(trial_run, monkeypatch):
    study, root = trial_run
    monkeypatch.setattr(table_stream, "ROW_GROUP_ROWS", 7)
    again = run_batch(study, [], root / "small_groups", options=BatchOptions(workers=1, progress=False))
    assert again.exit_code == 0
    oracle = root / "oracle"
    if not oracle.exists():
        _in_memory_tables(study, root / "out", oracle)
    for name in ("counts.csv", "gates.json"):
        assert (root / "small_groups" / name).read_bytes() == (oracle / name).read_bytes(), name
    for name in ("counts.parquet", "stats.parquet", "fits.parquet"):
        streamed = pq.ParquetFile(root / "small_groups" / name)
        sizes = [streamed.metadata.row_group(i).num_rows for i in range(streamed.num_row_groups)]
        assert len(sizes) > 2 and set(sizes[:-1]) == {7} and 1 <= sizes[-1] <= 7, (name, sizes)
        pd.testing.assert_frame_equal(pd.read_parquet(root / "small_groups" / name), pd.read_parquet(oracle / name))
        assert streamed.schema_arrow.metadata == pq.ParquetFile(oracle / name).schema_arrow.metadata


def _pieces(n_rows: int, cuts: list[int]) -> list[pd.DataFrame]:
    rng = np.random.default_rng(1)
    whole = pd.DataFrame({"sample": [f"S{i // 5}" for i in range(n_rows)],
                          "marker": pd.Series([None if i < 40 else f"CD{i % 7}" for i in range(n_rows)],
                                              dtype=object),
                          "n": np.arange(n_rows, dtype="int64"), "mean": rng.normal(size=n_rows)})
    bounds = [0, *cuts, n_rows]
    return [whole.iloc[a:b].reset_index(drop=True) for a, b in zip(bounds, bounds[1:])]


def _streamed(pieces: list[pd.DataFrame]) -> bytes:
    buffer = io.BytesIO()
    stream = table_stream.ParquetStream(buffer, "t.parquet", {"k": "v"})
    for piece in pieces:
        stream.add(piece)
    stream.finish(pieces[0].iloc[:0])
    return buffer.getvalue()


def test_parquet_bytes_depend_on_the_table_not_on_its_pieces(monkeypatch):
    monkeypatch.setattr(table_stream, "ROW_GROUP_ROWS", 16)
    # a column empty in the first row group (all None) and text later: typed as text throughout
    one = _streamed(_pieces(100, []))
    assert _streamed(_pieces(100, [3, 17, 18, 50, 99])) == one == _streamed(_pieces(100, [16, 32, 48]))
    back = pq.read_table(io.BytesIO(one))
    assert [back.slice(i * 16, 16).num_rows for i in range(7)] == [16] * 6 + [4]
    assert back.schema.field("marker").type == "string" and back.schema.metadata[b"k"] == b"v"
    pd.testing.assert_frame_equal(back.to_pandas(), pd.concat(_pieces(100, []), ignore_index=True))


def test_csv_pieces_join_to_the_whole_table(tmp_path):
    pieces = _pieces(30, [1, 9, 10])
    buffer = io.BytesIO()
    stream = table_stream.CsvStream(buffer, "t.csv")
    for piece in pieces:
        stream.add(piece)
    stream.finish(pieces[0].iloc[:0])
    assert buffer.getvalue() == write_csv(tmp_path / "t.csv", pd.concat(pieces, ignore_index=True)).read_bytes()
    with pytest.raises(Exception, match="columns"):
        stream.add(pieces[0].drop(columns="n"))


def test_gates_file_stream_writes_what_write_json_writes(tmp_path):
    for samples in ({}, {"A": {}}, {"A": {"/x": {"source": "fitted", "gate": {"range": {"FL1": {"min": 1.5}},
                                                                                  "v": [[1, 2], []], "e": {}}}},
                                    'B "é"': {}}):
        buffer = io.BytesIO()
        stream = GatesFileStream(buffer)
        for sample, gates in samples.items():
            stream.add(sample, gates)
        stream.finish()
        expected = write_json(tmp_path / "g.json", {"schema": GATES_SCHEMA, "samples": samples}).read_bytes()
        assert buffer.getvalue() == expected


def test_an_interrupted_streamed_file_leaves_the_previous_one(tmp_path):
    target = tmp_path / "t.csv"
    target.write_text("before\n")
    with pytest.raises(OutputError, match="No space"):
        with atomic_file(target) as handle:
            handle.write(b"half")
            raise OSError(28, "No space left on device")
    with pytest.raises(KeyError):
        with atomic_file(target) as handle:
            raise KeyError("stop")
    assert target.read_text() == "before\n" and not list(tmp_path.glob(f"*{TMP_MARKER}*"))


def test_study_run_reads_results_back_from_their_files(tmp_path):
    """A reused result vanishing before it is assembled is a clear error; earlier tables stay; a rerun completes."""
    study = make_study(tmp_path)
    out = tmp_path / "out"
    assert run_batch(study, [], out, options=BatchOptions(workers=1, progress=False)).exit_code == 0
    before = {name: (out / name).read_bytes() for name in TABLES}
    real_load = ResultCache.load

    def lose_p01_b(self, sample, key=None):  # type: ignore[no-untyped-def]
        return None if key is not None and sample == "P01_B" else real_load(self, sample, key)

    import cytogate.batch.resume as resume

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(resume.ResultCache, "load", lose_p01_b)
        with pytest.raises(OutputError, match="P01_B"):
            run_batch(study, [], out, options=BatchOptions(workers=1, progress=False))
    assert {name: (out / name).read_bytes() for name in TABLES} == before
    assert not list(out.glob(f".*{TMP_MARKER}*"))
    again = run_batch(study, [], out, options=BatchOptions(workers=1, progress=False))
    assert again.exit_code == 0 and again.summary.cached == 6
    assert {name: (out / name).read_bytes() for name in TABLES} == before


@pytest.mark.parametrize("held", [0, 3, 32])
def test_samples_finishing_out_of_order_give_the_same_tables(trial_run, tmp_path, monkeypatch, held):
    """Held in memory or read back from their files, in any finishing order: the run's tables, byte for byte."""
    study, root = trial_run
    plan = plan_study(load_study(study))
    cache = ResultCache(root / "out")
    documents = {t.sample: json.loads(cache.path(t.sample).read_text()) for t in plan.tasks}
    monkeypatch.setattr(table_feed, "HELD_LIMIT", held)
    monkeypatch.setattr(assemble, "ASSEMBLY_BATCH", 5)
    order = [t.sample for t in plan.tasks]
    finishing = order[1::2][::-1] + order[::2]  # every other sample early, in reverse
    done: dict[str, SampleSummary] = {}
    options = assemble.TableOptions(plan.metadata, plan.sheet, panels=plan.panel_of)
    with table_feed.TableFeed(order, cache, tmp_path, lambda: options) as feed:
        for sample in finishing:
            done[sample] = SampleSummary.from_json(documents[sample])
            feed.finished(sample, documents[sample], done, {})
            assert len(feed.held) <= max(held, 1)
        feed.finish(done, {})
    for name in TABLES:
        assert (tmp_path / name).read_bytes() == (root / "out" / name).read_bytes(), name
