"""Broken files: always FcsError naming the file, never another exception, a hang or a huge allocation."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from fcs_builder import build_fcs, params

from cytogate.errors import FcsError, FcsWarning
from cytogate.fcs import read_fcs, read_metadata, write_fcs


@pytest.fixture
def good(tmp_path):
    values = np.arange(40, dtype=np.float32).reshape(10, 4)
    return write_fcs(tmp_path / "good.fcs", values, ["A", "B", "C", "D"]).read_bytes()


def _expect_error(tmp_path, content: bytes, match: str | None = None, *, metadata: bool = False):
    path = tmp_path / "bad.fcs"
    path.write_bytes(content)
    with pytest.raises(FcsError, match=match) as info:
        sample = (read_metadata if metadata else read_fcs)(path)
        _ = sample.events  # decoding is what fails
    assert str(path) in str(info.value)
    return info.value


def _i16(n, pairs_extra=(), **extra):
    pairs = params(n, [("A", 16, "1024"), ("B", 16, "1024")], **{"$DATATYPE": "I", "$BYTEORD": "1,2", **extra})
    return pairs + list(pairs_extra)


def test_empty_and_tiny_files(tmp_path):
    _expect_error(tmp_path, b"", "too short")
    _expect_error(tmp_path, b"oi21j08cn\n", "too short")


def test_garbage(tmp_path):
    _expect_error(tmp_path, b"\x89PNG\r\n" + bytes(200), "not an FCS file")
    _expect_error(tmp_path, b"FCS9.9" + b" " * 52, "unsupported FCS version")
    _expect_error(tmp_path, b"FCS3.1    " + b"abcdefgh" * 6, "not a number")


def test_header_only(tmp_path, good):
    _expect_error(tmp_path, good[:58], "beyond the end of the file")


@pytest.mark.parametrize("cut", [59, 100, -1, -50])
def test_truncated(tmp_path, good, cut):
    _expect_error(tmp_path, good[:cut])


def test_truncated_data_but_metadata_readable(tmp_path, good):
    path = tmp_path / "t.fcs"
    path.write_bytes(good[:-20])
    assert read_metadata(path).n_events == 10
    with pytest.raises(FcsError, match="DATA segment truncated: 160 bytes needed"):
        read_fcs(path)


def test_offsets_beyond_the_end(tmp_path):
    content = bytearray(build_fcs(_i16(2), bytes(8)))
    content[26:42] = b"  900000  900100"
    path = tmp_path / "o.fcs"
    path.write_bytes(bytes(content))
    # TEXT offsets are still right: read them, with a warning about the HEADER.
    with pytest.warns(FcsWarning, match="disagree"):
        assert read_fcs(path).n_events == 2
    both_bad = build_fcs(_i16(2, [("$BEGINDATA", "800000"), ("$ENDDATA", "800007")]), bytes(8), text_offsets=False)
    both_bad = both_bad[:26] + b"  900000  900007" + both_bad[42:]
    _expect_error(tmp_path, both_bad, "truncated")


def test_text_offsets_impossible(tmp_path, good):
    _expect_error(tmp_path, good[:10] + b"      20      10" + good[26:], "impossible")
    _expect_error(tmp_path, good[:10] + b"      58 9999999" + good[26:], "beyond the end")
    _expect_error(tmp_path, good[:10] + b"       0       0" + good[26:], "no TEXT")


@pytest.mark.parametrize("tot", ["1000000000000", "99999999999999999999"])
def test_absurd_tot_fails_fast_without_allocating(tmp_path, tot):
    content = build_fcs([(k, tot if k == "$TOT" else v) for k, v in _i16(2)], bytes(8))
    error = _expect_error(tmp_path, content, "need .* bytes of DATA, but the file has only")
    assert "$TOT" in str(error)


def test_absurd_par(tmp_path):
    content = build_fcs([(k, "100000000" if k == "$PAR" else v) for k, v in _i16(2)], bytes(8))
    _expect_error(tmp_path, content, r"\$PAR is 100000000")


@pytest.mark.parametrize(
    "key,value,match",
    [
        ("$TOT", "ten", r"\$TOT has value 'ten'"),
        ("$PAR", "2.5", r"\$PAR has value '2.5'"),
        ("$P1B", "sixteen", r"\$P1B has value"),
        ("$P1B", "12", None),  # width mismatch with the data size
        ("$P2B", "128", "1 to 64"),
        ("$DATATYPE", "Q", "not one of I, F, D"),
        ("$BYTEORD", "1,1", "permutation"),
        ("$BYTEORD", "big", "byte numbers"),
        ("$P1E", "log", r"expected 'f1,f2'"),
        ("$P1R", "wide", r"\$P1R has value"),
        ("$BEGINDATA", "x", r"\$BEGINDATA has value"),
    ],
)
def test_non_numeric_or_inconsistent_keywords(tmp_path, key, value, match):
    pairs = [(k, value if k == key else v) for k, v in _i16(4)]
    content = build_fcs(pairs, np.arange(8, dtype="<u2").tobytes(), text_offsets=key != "$BEGINDATA")
    if key == "$BEGINDATA":
        content = build_fcs(pairs + [("$BEGINDATA", value)], np.arange(8, dtype="<u2").tobytes(), text_offsets=False)
    if key == "$P1B" and value == "12":
        # 12+16 bits per event: the segment is larger than needed, which is readable.
        path = tmp_path / "w.fcs"
        path.write_bytes(content)
        assert read_fcs(path).events.shape == (4, 2)
        return
    _expect_error(tmp_path, content, match)


def test_missing_required_keywords(tmp_path):
    for drop in ("$PAR", "$P1B", "$BYTEORD", "$DATATYPE"):
        pairs = [(k, v) for k, v in _i16(4) if k != drop]
        _expect_error(tmp_path, build_fcs(pairs, bytes(16)), drop.replace("$", r"\$") if drop != "$DATATYPE" else "DATATYPE")


def test_malformed_text(tmp_path, good):
    text_start = int(good[10:18])
    bad = bytearray(good)
    bad[text_start] = ord("7")
    _expect_error(tmp_path, bytes(bad), "not a delimiter")


def test_nextdata_loop_and_bad_dataset_index(tmp_path):
    content = build_fcs([(k, "58" if k == "$NEXTDATA" else v) for k, v in _i16(2)], bytes(8))
    path = tmp_path / "n.fcs"
    path.write_bytes(content)
    with pytest.warns(FcsWarning, match=r"\$NEXTDATA"):
        sample = read_fcs(path)
    assert sample.n_datasets == 1
    for dataset in (-1, 3, "x"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FcsWarning)
            with pytest.raises(FcsError):
                read_fcs(path, dataset=dataset)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FcsError, match="not found"):
        read_fcs(tmp_path / "nope.fcs")
    with pytest.raises(FcsError, match="directory"):
        read_metadata(tmp_path)


def test_random_corruption_never_escapes_as_other_exception(tmp_path, good):
    """A small deterministic fuzz: flip, cut and splice bytes; only FcsError (or success) allowed."""
    rng = np.random.default_rng(2024)
    path = tmp_path / "fuzz.fcs"
    for trial in range(300):
        data = bytearray(good)
        kind = trial % 3
        if kind == 0:
            for _ in range(rng.integers(1, 8)):
                data[rng.integers(0, len(data))] = int(rng.integers(0, 256))
        elif kind == 1:
            data = data[: rng.integers(0, len(data))]
        else:
            at = int(rng.integers(0, 300))
            data[at : at + 8] = str(int(rng.integers(0, 10**8))).rjust(8).encode()
        path.write_bytes(bytes(data))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FcsWarning)
            try:
                sample = read_fcs(path)
                _ = sample.events  # decoding is what fails
                read_metadata(path)
            except FcsError:
                pass


def test_broken_second_data_set_does_not_cost_the_first(tmp_path):
    first = build_fcs([(k, "00000000" if k == "$NEXTDATA" else v) for k, v in _i16(2)], np.arange(4, dtype="<u2").tobytes())
    first = first.replace(b"$NEXTDATA/00000000/", f"$NEXTDATA/{len(first):08d}/".encode())
    path = tmp_path / "two.fcs"
    path.write_bytes(first + b"FCS3.1    " + b"xxxxxxxx" * 6)
    with pytest.warns(FcsWarning, match="data set 1 unreadable"):
        sample = read_fcs(path, scale=False)
    assert sample.n_datasets == 1 and sample.events.tolist() == [[0.0, 1.0], [2.0, 3.0]]
    with pytest.raises(FcsError, match="not a number"):
        read_fcs(path, dataset=1)
