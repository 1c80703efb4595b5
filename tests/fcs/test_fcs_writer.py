"""write_fcs: exact round trips, oracles read what it writes, big offsets, atomicity."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

from cytogate.errors import FcsError, FcsWarning
from cytogate.fcs import read_fcs, write_fcs
from cytogate.fcs import writer as writer_module
from cytogate.compensation import Spillover


@pytest.fixture
def events():
    rng = np.random.default_rng(7)
    values = rng.lognormal(mean=6, sigma=2, size=(2000, 4)).astype(np.float32)
    values[:, 1] -= 500  # negatives survive
    values[3, 2] = np.float32(np.nan)
    return values


def test_round_trip_exact(tmp_path, events):
    spill = Spillover(np.array([[1.0, 0.125], [0.0371, 1.0]]), ("FL1-A", "FL2-A"))
    path = write_fcs(
        tmp_path / "out.fcs",
        events,
        ["FSC-A", "FL1-A", "FL2-A", "Time"],
        markers=[None, "CD3/FITC", "", "  "],
        keywords={"$CYT": "synthetic", "note": "a/b", "$FIL": "orig.fcs"},
        spillover=spill,
    )
    assert path == tmp_path / "out.fcs"
    sample = read_fcs(path)
    assert sample.version == "FCS3.1"
    assert sample.events.dtype == np.float32
    np.testing.assert_array_equal(sample.events, events)
    assert sample.channels == ("FSC-A", "FL1-A", "FL2-A", "Time")
    assert sample.markers == (None, "CD3/FITC", None, None)
    assert sample.spillover == spill
    assert sample.keywords["$CYT"] == "synthetic" and sample.keywords["NOTE"] == "a/b"
    assert sample.name == "out"
    assert oct(os.stat(path).st_mode & 0o777) == "0o644"


def test_round_trip_of_a_read_sample_does_not_rescale(tmp_path):
    """Scale keywords ($PnG, $PnE, $TIMESTEP) of the source are not carried over."""
    values = np.array([[1.5, 2.0], [3.0, 4.0]], dtype=np.float32)
    keywords = {"$P1G": "4", "$P1E": "4,0", "$TIMESTEP": "0.1", "$P2R": "1024"}
    path = write_fcs(tmp_path / "s.fcs", values, ["A", "Time"], keywords=keywords)
    sample = read_fcs(path)
    np.testing.assert_array_equal(sample.events, values)
    assert "$P1G" not in sample.keywords and "$TIMESTEP" not in sample.keywords
    assert sample.keywords["$P1E"] == "0,0" and sample.keywords["$P2R"] == "1024"


def test_float64_option_is_exact(tmp_path):
    values = np.array([[np.pi, -1e300], [1e-300, 2.0]])
    path = write_fcs(tmp_path / "d.fcs", values, ["A", "B"], datatype="D")
    np.testing.assert_array_equal(read_fcs(path).events, values)


def test_flowio_and_flowkit_read_what_we_write(tmp_path, events):
    flowio = pytest.importorskip("flowio")
    flowkit = pytest.importorskip("flowkit")
    spill = Spillover(np.array([[1.0, 0.25], [0.5, 1.0]]), ("B", "C"))
    finite = np.nan_to_num(events)
    path = write_fcs(tmp_path / "o.fcs", finite, ["A", "B", "C", "D"], markers=["m1", None, "m3", None], spillover=spill)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = flowio.FlowData(str(path))
        np.testing.assert_array_equal(data.as_array(preprocess=False), finite.astype(np.float64))
        sample = flowkit.Sample(str(path))
        np.testing.assert_array_equal(sample.get_events(source="raw"), finite.astype(np.float64))
    assert sample.pnn_labels == ["A", "B", "C", "D"]
    assert sample.pns_labels[0] == "m1"
    assert sample.metadata["spillover"].startswith("2,B,C,1.0,0.25,0.5,1.0")


def test_offsets_beyond_header_limit_use_text(tmp_path, monkeypatch):
    """Past 99,999,999 bytes the HEADER carries zeros; shown with a lowered limit, read by FlowIO too."""
    monkeypatch.setattr(writer_module, "_HEADER_LIMIT", 1000)
    values = np.arange(2000, dtype=np.float32).reshape(500, 4)
    path = write_fcs(tmp_path / "big.fcs", values, ["A", "B", "C", "D"])
    raw = path.read_bytes()
    assert raw[26:42] == b"       0       0"
    np.testing.assert_array_equal(read_fcs(path).events, values)
    flowio = pytest.importorskip("flowio")
    # FlowIO accepts zero HEADER offsets only with its discrepancy check off for files this small.
    data = flowio.FlowData(str(path), ignore_offset_discrepancy=True)
    np.testing.assert_array_equal(data.as_array(preprocess=False), values.astype(np.float64))


def test_real_file_beyond_100_mb(tmp_path):
    """A real 104 MB file (about 2 s): HEADER zeros, offsets in TEXT, read back."""
    n = 1_300_000
    values = np.broadcast_to(np.arange(20, dtype=np.float32), (n, 20))
    path = write_fcs(tmp_path / "huge.fcs", values, [f"C{j}" for j in range(20)])
    assert path.stat().st_size > 100_000_000
    raw = path.read_bytes()[:58]
    assert raw[26:42] == b"       0       0"
    sample = read_fcs(path)
    assert sample.n_events == n
    np.testing.assert_array_equal(sample.column("C7")[-3:], [7, 7, 7])


def test_atomic_replace_and_no_leftovers(tmp_path, events):
    target = tmp_path / "same.fcs"
    write_fcs(target, events, ["A", "B", "C", "D"])
    write_fcs(target, events[:10], ["A", "B", "C", "D"])
    assert read_fcs(target).n_events == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same.fcs"]


def test_failed_write_leaves_no_temporary(tmp_path, monkeypatch, events):
    target = tmp_path / "fail.fcs"

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer_module.os, "fsync", boom)
    with pytest.raises(Exception, match="No space left"):
        write_fcs(target, events, ["A", "B", "C", "D"])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args,message",
    [
        ((np.zeros(3), ["A"]), "2-D"),
        ((np.zeros((2, 2)), ["A"]), "2 columns but 1 channel"),
        ((np.zeros((2, 2)), ["A", "A"]), "unique"),
        ((np.zeros((2, 1)), [" "]), "empty"),
    ],
)
def test_bad_input(tmp_path, args, message):
    with pytest.raises(FcsError, match=message):
        write_fcs(tmp_path / "x.fcs", *args)


def test_empty_keyword_values_are_dropped_with_warning(tmp_path):
    with pytest.warns(FcsWarning, match="empty value"):
        path = write_fcs(tmp_path / "e.fcs", np.zeros((1, 1)), ["A"], keywords={"EMPTY": ""})
    assert "EMPTY" not in read_fcs(path).keywords


def test_sample_from_arrays(tmp_path, events):
    sample_in = read_fcs(write_fcs(tmp_path / "f.fcs", events, ["A", "B", "C", "D"]))
    mem = type(sample_in).from_arrays(events, ["A", "B", "A", "D"], markers=["x", None, None, None])
    assert mem.channels == ("A", "B", "A_2", "D")
    assert mem.path is None and mem.name == "sample"
    assert mem.events.dtype == np.float32
    np.testing.assert_array_equal(mem.column("x"), events[:, 0])
    np.testing.assert_array_equal(mem.column("A_2"), sample_in.column(2))
    assert mem.keywords["$P3N"] == "A" and mem.keywords["$TOT"] == str(len(events))
    assert len(mem.sha256()) == 64 and len(sample_in.sha256()) == 64
    with pytest.raises(FcsError):
        type(sample_in).from_arrays(np.zeros(3), ["A"])
