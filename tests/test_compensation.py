"""Compensation: spillover files, channel matching, and unmixing against flowCore's truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import corpus_path

from cytogate.channels import normalize_channel_name
from cytogate.compensation import (
    Compensator,
    Spillover,
    compensate,
    match_channels,
    spillover_from_array,
    spillover_from_file,
    spillover_from_text,
)
from cytogate.errors import CompensationError


def compensate_events(events, spillover, channels):
    """The plain oracle: a float64 copy with the matrix's detectors replaced by ``raw @ inv(S)``."""
    out = np.array(events, dtype=np.float64, copy=True)
    idx = [list(channels).index(d) for d in spillover.channels]
    out[:, idx] = np.asarray(events, dtype=np.float64)[:, idx] @ np.linalg.inv(spillover.matrix)
    return out

COMPDATA = "RGLab+flowCore/inst/extdata/compdata"
COMPMATRIX = np.array(
    [
        [1, 0.24, 0.032, 1.13e-3],
        [7.77e-3, 1, 0.14, 2.74e-3],
        [8.69e-3, 0.17, 1, 0.21],
        [7.95e-4, 9.95e-4, 3.23e-3, 1],
    ]
)
FL = ("FL1-H", "FL2-H", "FL3-H", "FL4-H")


# -- files ---------------------------------------------------------------------------
@pytest.mark.corpus
def test_flowjo_mac_compmatrix() -> None:
    path = corpus_path(f"{COMPDATA}/compmatrix")
    assert b"\r" in path.read_bytes() and b"\n" not in path.read_bytes()  # CR-only line endings
    sp = spillover_from_file(path)
    assert sp.channels == FL
    np.testing.assert_array_equal(sp.matrix, COMPMATRIX)
    assert sp.source == str(path)


@pytest.mark.corpus
def test_flowkit_csv_exports() -> None:
    sp = spillover_from_file(corpus_path("whitews+FlowKit/data/comp_complete_example.csv"))
    assert len(sp.channels) == 14 and sp.channels[:2] == ("Ax488-A", "PE-A")
    assert sp.matrix[0, 1] == 0.2986 and np.all(np.diag(sp.matrix) == 1)
    den = spillover_from_file(corpus_path("whitews+FlowKit/data/8_color_data_set/den_comp.csv"))  # "# " header
    assert den.channels[0] == "TNFa FITC FLR-A" and den.channels[-1] == "CD4 PE-Cy7 FLR-A"
    assert den.matrix.shape == (8, 8) and den.matrix[1, 7] == 0.127012


@pytest.mark.corpus
def test_r_write_table_with_row_labels() -> None:
    sp = spillover_from_file(corpus_path(f"{COMPDATA}/compref1"))
    assert sp.channels == FL
    assert sp.matrix[0, 1] == 0.242022277630705 and sp.matrix[3, 2] == 0.00321861379453393
    assert np.all(np.diag(sp.matrix) == 1)
    # compref2 deliberately swaps the contents of the FL3-H and FL4-H rows: read as labelled
    shuffled = spillover_from_file(corpus_path(f"{COMPDATA}/compref2"))
    assert shuffled.matrix[2, 3] == 1.0 and shuffled.matrix[3, 2] == 1.0


def test_layouts_and_line_endings(tmp_path: Path) -> None:
    body = [["1", "0.1", "0"], ["0.2", "1", "0.05"], ["0", "0.3", "1"]]
    names = ["FITC-A", "PE-A", "APC-A"]
    variants = {
        "tsv_crlf": "\t".join(names) + "\r\n" + "\r\n".join("\t".join(r) for r in body) + "\r\n",
        "csv_corner": ",".join([""] + names) + "\n" + "\n".join(",".join([n] + r) for n, r in zip(names, body)),
        "semicolon": ";".join(names) + "\n" + "\n".join(";".join(r) for r in body),
        "quoted_blank": " ".join(f'"{n}"' for n in names) + "\n" + "\n".join(" ".join(r) for r in body),
        "preamble": "my matrix\n<\t>\n" + "\t".join(names) + "\n" + "\n".join("\t".join(r) for r in body) + "\n\n",
        "labels_reordered": ",".join([""] + names) + "\n"
        + "\n".join(",".join([names[i]] + body[i]) for i in (2, 0, 1)),
        "trailing_sep": ",".join(names) + ",\n" + "\n".join(",".join(r) + "," for r in body),
    }
    for label, text in variants.items():
        path = tmp_path / f"{label}.txt"
        path.write_text(text, newline="")
        sp = spillover_from_file(path)
        assert sp.channels == tuple(names), label
        np.testing.assert_array_equal(sp.matrix, np.array(body, dtype=float), err_msg=label)


@pytest.mark.parametrize(
    "text,message,line",
    [
        ("A,B\n1,0.1\n0.2,x\n", "found 'x'", 3),
        ("A,B\n1,0.1\n0.2\n", "row has 1 values but the header names 2 detectors", 3),
        ("A,B,C\n1,0,0\n0,1,0\n", "not square: 2 rows for 3 detectors", 3),
        ("A,A\n1,0\n0,1\n", "header names a detector twice: A", 1),
        ("1,0\n0,1\n", "no header row of detector names", 1),
        ("A,B\n1,nan\n0,1\n", "non-finite", 2),
        ("A,B\nB,1,0\nC,0,1\n", "row labels B, C do not match the header A, B", 2),
    ],
)
def test_bad_files_name_file_and_line(tmp_path: Path, text: str, message: str, line: int) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(CompensationError, match=message) as info:
        spillover_from_file(path)
    assert str(path) in str(info.value) and f"line {line}" in str(info.value)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(CompensationError, match="cannot read spillover file"):
        spillover_from_file(tmp_path / "absent.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("  \n\n")
    with pytest.raises(CompensationError, match="empty spillover file"):
        spillover_from_file(empty)
    binary = tmp_path / "data.fcs"
    binary.write_bytes(b"FCS3.1\x00\x00\x01")
    with pytest.raises(CompensationError, match="binary file"):
        spillover_from_file(binary)


# -- arrays and matrices ------------------------------------------------------------------
def test_from_array_validates() -> None:
    sp = spillover_from_array([[1, 0.1], [0.2, 1]], ["A", "B"])
    assert isinstance(sp, Spillover) and sp.channels == ("A", "B") and sp.source == "array"
    with pytest.raises(CompensationError, match="not square"):
        spillover_from_array(np.ones((2, 3)), ["A", "B"])
    with pytest.raises(CompensationError, match="2 rows but 3 channel names: A, B, C"):
        spillover_from_array(np.eye(2), ["A", "B", "C"])
    with pytest.raises(CompensationError, match="not numeric"):
        spillover_from_array([["a", "b"], ["c", "d"]], ["A", "B"])


def test_singular_matrix_names_channels() -> None:
    sp = spillover_from_array([[1, 1, 0], [1, 1, 0], [0, 0, 1]], ["FITC-A", "PE-A", "APC-A"])
    with pytest.raises(CompensationError, match="FITC-A, PE-A, APC-A is singular"):
        Compensator(sp, ["FSC-A", "FITC-A", "PE-A", "APC-A"])


# -- channel matching ------------------------------------------------------------------------
def test_normalize_flowjo_names() -> None:
    for name in ("Comp-FITC-A", "<FITC-A>", "Comp-<FITC-A>", " comp-FITC-A ", "FITC-A"):
        assert normalize_channel_name(name) == "FITC-A"


def test_match_channels() -> None:
    sample = ["FSC-A", "SSC-A", "FITC-A", "PE-A", "APC-A"]
    sp = spillover_from_array(np.eye(3), ["APC-A", "Comp-FITC-A", "<PE-A>"])
    assert match_channels(sp, sample) == (4, 2, 3)
    assert match_channels(spillover_from_array(np.eye(1), ["fitc-a"]), sample) == (2,)
    # the sample side may carry the decoration too
    assert match_channels(spillover_from_array(np.eye(1), ["PE-A"]), ["Comp-PE-A"]) == (0,)


def test_match_channels_missing_and_ambiguous() -> None:
    sp = spillover_from_array(np.eye(3), ["FITC-A", "BV421-A", "PE-Cy7-A"])
    with pytest.raises(CompensationError, match="lacks: BV421-A, PE-Cy7-A") as info:
        match_channels(sp, ["FSC-A", "FITC-A"])
    assert "sample channels: FSC-A, FITC-A" in str(info.value)
    with pytest.raises(CompensationError, match="matches several channels"):
        match_channels(spillover_from_array(np.eye(1), ["pe-a"]), ["Comp-PE-A", "<PE-A>"])


# -- unmixing ---------------------------------------------------------------------------------------
def random_events(n: int = 5000) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(11)
    names = ["FSC-A", "FL1-H", "Time", "FL2-H", "FL3-H", "FL4-H"]
    return rng.lognormal(5, 1.5, (n, len(names))), names


def test_matches_linalg_solve() -> None:
    events, names = random_events()
    sp = spillover_from_array(COMPMATRIX, FL)
    idx = [names.index(c) for c in FL]
    expected = np.linalg.solve(sp.matrix.T, events[:, idx].T).T  # FlowKit's way
    full = compensate_events(events, sp, names)
    np.testing.assert_allclose(full[:, idx], expected, rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(np.delete(full, idx, axis=1), np.delete(events, idx, axis=1))
    by_name = compensate(events, sp, names)
    assert list(by_name) == list(FL)
    for k, c in enumerate(FL):
        np.testing.assert_allclose(by_name[c], expected[:, k], rtol=1e-12, atol=1e-9)
    mapping = {n: events[:, i] for i, n in enumerate(names)}
    only = compensate(mapping, sp, only=["FL3-H", "FSC-A"])
    np.testing.assert_allclose(only["FL3-H"], expected[:, 2], rtol=1e-12, atol=1e-9)
    assert only["FSC-A"] is mapping["FSC-A"]


def test_compensator_fetches_only_what_it_needs() -> None:
    events, names = random_events()
    # FL4-H is independent of the others: asking for FL1-H must not read FL4-H
    matrix = COMPMATRIX.copy()
    matrix[3, :3] = matrix[:3, 3] = 0
    sp = spillover_from_array(matrix, FL)
    calls: list[int] = []

    def get(i: int) -> np.ndarray:
        calls.append(i)
        return events[:, i]

    comp = Compensator(sp, names)
    out = comp.columns(get, ["FL1-H", "FSC-A", "FL2-H"])
    assert sorted(calls) == sorted({names.index(c) for c in ("FL1-H", "FL2-H", "FL3-H", "FSC-A")})
    assert len(calls) == len(set(calls))  # each raw column fetched once
    expected = compensate_events(events, sp, names)
    np.testing.assert_allclose(out["FL1-H"], expected[:, names.index("FL1-H")], rtol=1e-12)
    np.testing.assert_allclose(out["FL2-H"], expected[:, names.index("FL2-H")], rtol=1e-12)
    assert out["FSC-A"] is events[:, 0] or np.shares_memory(out["FSC-A"], events)
    assert out["FL1-H"].flags.c_contiguous and out["FL1-H"].dtype == np.float64
    cols, w = comp.weights("FL4-H")  # type: ignore[misc]
    assert cols == (names.index("FL4-H"),) and w[0] == 1.0
    assert comp.weights("Time") is None
    with pytest.raises(CompensationError, match="'nope' not in the sample"):
        comp.columns(get, ["nope"])
    by_index = comp.columns(get, [names.index("FL3-H")])
    np.testing.assert_allclose(by_index[names.index("FL3-H")], expected[:, names.index("FL3-H")], rtol=1e-12)


def test_columns_from_events_matches_columns() -> None:
    events, names = random_events()
    sp = spillover_from_array(COMPMATRIX, FL)
    comp = Compensator(sp, names)
    wanted = ["FL4-H", "Time", "FL1-H"]
    a = comp.columns_from_events(events, wanted)
    b = comp.columns(lambda i: events[:, i], wanted)
    assert list(a) == wanted
    for key in wanted:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-13)
    assert a["FL1-H"].flags.c_contiguous
    with pytest.raises(CompensationError, match=r"events must be \(n_events, 6\)"):
        comp.columns_from_events(events[:, :3], wanted)


def test_float32_columns() -> None:
    events, names = random_events()
    sp = spillover_from_array(COMPMATRIX, FL)
    e32 = events.astype(np.float32)
    out = Compensator(sp, names).columns(lambda i: e32[:, i], ["FL2-H"])
    expected = compensate_events(e32.astype(np.float64), sp, names)[:, names.index("FL2-H")]
    np.testing.assert_allclose(out["FL2-H"], expected, rtol=1e-12)


def test_columns_of_different_lengths() -> None:
    events, names = random_events()
    comp = Compensator(spillover_from_array(COMPMATRIX, FL), names)
    with pytest.raises(CompensationError, match="column FL2-H has shape"):
        comp.columns(lambda i: events[: 10 + (i == names.index("FL2-H")), i], ["FL1-H"])


def test_bad_event_arrays() -> None:
    sp = spillover_from_array(COMPMATRIX, FL)
    with pytest.raises(CompensationError, match="need 4 channel names"):
        compensate(np.ones((3, 4)), sp, ["FL1-H"])
    with pytest.raises(CompensationError, match=r"\(n_events, n_channels\)"):
        compensate(np.ones(4), sp, list(FL))


@pytest.mark.corpus
def test_reproduces_flowcore_trans_comp() -> None:
    """Column means after $PnE decoding and compensation with compmatrix (flowCore test-transform.R)."""
    import cytogate

    truth = json.loads(corpus_path("truth/flowCore_expectResults_transform.json").read_text())["trans.comp"]
    sp = spillover_from_file(corpus_path(f"{COMPDATA}/compmatrix"))
    for row, name in enumerate(truth["coords_dim_0"]):
        sample = cytogate.read_fcs(corpus_path(f"{COMPDATA}/data/{name}"))
        channels = list(sample.channels)
        comp = Compensator(sp, channels)
        columns = comp.columns(lambda i: np.asarray(sample.column(i)), truth["coords_dim_1"])
        means = [columns[c].mean() for c in truth["coords_dim_1"]]
        np.testing.assert_allclose(means, truth["values"][row], rtol=1e-6, err_msg=name)
        full = compensate_events(np.asarray(sample.events), sp, channels)
        order = [channels.index(c) for c in truth["coords_dim_1"]]
        np.testing.assert_allclose(full.mean(axis=0)[order], truth["values"][row], rtol=1e-6, err_msg=name)


def test_text_parser_source_in_messages() -> None:
    with pytest.raises(CompensationError, match="^workspace.wsp: .*line 2"):
        spillover_from_text("A,B\n1,zz\n0,1", source="workspace.wsp")
