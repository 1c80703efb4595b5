"""Hostile sample sheets and sample names: clear SampleSheetErrors, and no write outside the output folder.

Sample names come from sheets (``sample`` column) or from file names; they
become file names (``membership/<sample>.parquet``, the result cache).  Path
traversal, absolute paths, NUL bytes, very long or reserved names must either
be refused or sanitised so that every file a run writes stays inside ``--out``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hostile_inputs import small_fcs

from cytogate.batch import BatchOptions, SampleSheet, run_batch, safe_sample_name
from cytogate.errors import BatchError, SampleSheetError

STRATEGY = "cytogate_strategy: 1\nname: s\npopulations:\n  Cells: {rectangle: {FSC-A: {min: 100}}}\n"

HOSTILE_NAMES = [
    "../../etc/x", "../../../../../../tmp/owned", "/etc/passwd", "/tmp/abs", "..", ".", "...", "~root/x",
    "a\x00b", "C:\\Windows\\system32", "..\\..\\evil", "-rf", ".hidden", "x" * 5000, "\u202egnp.exe",
    "con", "sub/dir/name", "\n", "../" * 50, "ñandú/üñí", "%2e%2e%2fetc",
]


def _write_sheet(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _snapshot(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
def test_safe_sample_name_is_one_plain_path_component(name):
    safe = safe_sample_name(name)
    assert safe and len(safe) <= 120
    assert "/" not in safe and "\\" not in safe and "\x00" not in safe
    assert safe not in (".", "..") and not safe.startswith((".", "-"))
    assert Path(safe).name == safe and not Path(safe).is_absolute()
    assert safe.isascii() and safe.isprintable()


def test_sheet_with_hostile_names_runs_confined_to_the_output_folder(tmp_path):
    """Every hostile name as a sample: all outputs (membership, cache) land inside --out."""
    data = tmp_path / "data"
    data.mkdir()
    rows = []
    for i, name in enumerate(HOSTILE_NAMES):
        small_fcs(data / f"f{i}.fcs", n=100, seed=i)
        rows.append([f"f{i}.fcs", f"{name}{i:02d}", str(i)])  # suffix: distinct after sanitising
    sheet = _write_sheet(data / "sheet.csv", ["file", "sample", "visit"], rows)
    strategy = tmp_path / "s.yaml"
    strategy.write_text(STRATEGY)
    out = tmp_path / "work" / "out"
    before = _snapshot(tmp_path)
    result = run_batch(strategy, [], out, samples=sheet,
                       options=BatchOptions(workers=1, membership=True, progress=False, stats=False))
    assert result.exit_code == 0
    created = _snapshot(tmp_path) - before
    outside = [p for p in created if out not in p.parents and p not in (out, out.parent)]
    assert not outside, f"written outside the output folder: {outside}"
    membership = sorted(p.name for p in (out / "membership").iterdir())
    assert len(membership) == len(HOSTILE_NAMES)
    for name in membership:
        assert name.endswith(".parquet") and not name.startswith(".")
    assert not Path("/tmp/owned").exists() and not Path("/tmp/abs.parquet").exists()


def test_names_that_collide_after_sanitising_are_refused(tmp_path):
    a, b = small_fcs(tmp_path / "a.fcs"), small_fcs(tmp_path / "b.fcs")
    sheet = _write_sheet(tmp_path / "sheet.csv", ["file", "sample"], [[a.name, "../x"], [b.name, "x"]])
    with pytest.raises(SampleSheetError, match="duplicate sample name 'x'") as info:
        SampleSheet.read(sheet)
    assert "row 3" in str(info.value)


def test_fcs_keyword_fil_never_names_outputs(tmp_path):
    """$FIL inside the file is attacker-controlled; the sample name comes from the file name."""
    from cytogate.fcs import write_fcs
    import numpy as np

    path = write_fcs(tmp_path / "plain.fcs", np.full((50, 1), 500, dtype=np.float32), ["FSC-A"],
                     keywords={"$FIL": "../../../../tmp/evil_fil.fcs"})
    strategy = tmp_path / "s.yaml"
    strategy.write_text(STRATEGY)
    out = tmp_path / "out"
    run_batch(strategy, [path], out, options=BatchOptions(workers=1, membership=True, progress=False, stats=False))
    assert (out / "membership" / "plain.parquet").is_file()
    assert not Path("/tmp/evil_fil.parquet").exists()


@pytest.mark.parametrize(
    "header,rows,match,where",
    [
        (["file", "sample"], [["missing.fcs", "a"]], "not found", "row 2"),
        (["path", "sample"], [["a.fcs", "a"]], "no 'file' column", None),
        (["file", "sample"], [["a.fcs", "s1"], ["b.fcs", "s1"]], "duplicate sample name", "row 3"),
        (["file", "sample"], [["a.fcs", "s1"], ["a.fcs", "s2"]], "listed twice", "row 3"),
        (["file", "sample"], [["", "s1"]], "empty file name", "row 2"),
        (["file", "sample"], [], "no rows", None),
        (["file", "File"], [["a.fcs", "a.fcs"]], "duplicate column", None),
        (["file", "count"], [["a.fcs", "3"]], "reserved", "column count"),
        (["file", "volume_ul"], [["a.fcs", "lots"]], "not a non-negative number", "row 2"),
        (["file", "volume_ul"], [["a.fcs", "-5"]], "not a non-negative number", "row 2"),
    ],
    ids=["missing-file", "no-file-column", "duplicate-sample", "duplicate-file", "empty-file", "no-rows",
         "duplicate-column", "reserved-column", "non-numeric-volume", "negative-volume"],
)
def test_malformed_sheets_say_where(tmp_path, header, rows, match, where):
    small_fcs(tmp_path / "a.fcs")
    small_fcs(tmp_path / "b.fcs")
    sheet = _write_sheet(tmp_path / "sheet.csv", header, rows)
    with pytest.raises(SampleSheetError, match=match) as info:
        SampleSheet.read(sheet)
    message = str(info.value)
    assert str(sheet) in message
    if where:
        assert where in message, message


@pytest.mark.parametrize("content", [b"", b"\x00\x01\x02\xff\xfe", b'file\n"unterminated\n', b"\xef\xbb\xbf"],
                         ids=["empty", "binary", "unterminated-quote", "bom-only"])
def test_garbage_sheets_are_sheet_errors(tmp_path, content):
    sheet = tmp_path / "sheet.csv"
    sheet.write_bytes(content)
    with pytest.raises(SampleSheetError) as info:
        SampleSheet.read(sheet)
    assert str(sheet) in str(info.value)


def test_missing_sheet_and_traversal_in_file_column(tmp_path):
    with pytest.raises(SampleSheetError, match="not found"):
        SampleSheet.read(tmp_path / "nope.csv")
    # A file column may point anywhere readable (it is input), but the sample name stays confined.
    inside = tmp_path / "deep" / "er"
    inside.mkdir(parents=True)
    small_fcs(tmp_path / "up.fcs")
    sheet = _write_sheet(inside / "sheet.csv", ["file"], [["../../up.fcs"]])
    row = SampleSheet.read(sheet).rows[0]
    assert row.file == str((tmp_path / "up.fcs").resolve())
    assert row.sample == "up"


def test_two_inputs_with_the_same_stem_are_refused_without_a_sheet(tmp_path):
    a = small_fcs((tmp_path / "x").mkdir() or tmp_path / "x" / "s.fcs")
    b = small_fcs((tmp_path / "y").mkdir() or tmp_path / "y" / "s.fcs")
    strategy = tmp_path / "s.yaml"
    strategy.write_text(STRATEGY)
    out = tmp_path / "out"
    with pytest.raises((BatchError, SampleSheetError), match="'s'"):
        run_batch(strategy, [a, b], out, options=BatchOptions(workers=1, progress=False))
    assert not (out / "counts.csv").exists()


def test_hostile_file_names_without_a_sheet_stay_confined(tmp_path):
    """Sample names taken from file names (no sheet): newlines, leading dots/dashes, unicode, spaces."""
    data = tmp_path / "data"
    data.mkdir()
    stems = ["..", "...x", "-rf", "--out=elsewhere", "line\nbreak", "tab\there", "ñandú", "a b c", "$(touch x)", "~"]
    inputs = [small_fcs(data / f"{stem}.fcs", n=60, seed=i) for i, stem in enumerate(stems)]
    strategy = tmp_path / "s.yaml"
    strategy.write_text(STRATEGY)
    out = tmp_path / "out"
    before = _snapshot(tmp_path)
    result = run_batch(strategy, inputs, out,
                       options=BatchOptions(workers=1, membership=True, progress=False, stats=False))
    assert result.exit_code == 0
    created = _snapshot(tmp_path) - before
    assert all(p == out or out in p.parents for p in created), sorted(created)
    names = sorted(p.name for p in (out / "membership").iterdir())
    assert len(names) == len(stems)
    assert all(n.isascii() and n.isprintable() and not n.startswith((".", "-")) and "/" not in n for n in names)
    assert not (tmp_path / "x").exists()
