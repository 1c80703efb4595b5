"""Sample sheets: reading, validation with row/column messages, matching, safe names."""

from __future__ import annotations

import pandas as pd
import pytest
from batch_helpers import make_inputs, write_strategy

from cytogate.batch import BatchOptions, SampleSheet, plan_tasks, run_batch, safe_sample_name
from cytogate.errors import BatchError, SampleSheetError


@pytest.fixture()
def files(tmp_path):
    return make_inputs(tmp_path / "fcs", count=3, n=2000)


def _sheet(tmp_path, text, name="sheet.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("raw, safe", [
    ("../../etc/passwd", "etc_passwd"), ("/abs/x", "abs_x"), ("..", "sample"), (".hidden", "hidden"),
    ("a b:c\\d", "a_b_c_d"), ("Patient 7 — visit 2", "Patient_7_visit_2"), ("-rf", "rf"), ("", "sample"),
    ("ok-Name_1.2", "ok-Name_1.2"),
])
def test_safe_sample_name_never_leaves_the_folder(raw, safe):
    assert safe_sample_name(raw) == safe
    assert "/" not in safe and "\\" not in safe and not safe.startswith(".")


def test_read_csv_relative_paths_metadata_and_types(tmp_path, files):
    path = _sheet(tmp_path, "file,sample,subject,visit,volume_ul,beads_per_test\n"
                            "fcs/s00.fcs,P1 V1,P1,1,50,50000\nfcs/s01.fcs,P1/V2,P1,2,50,50000\n")
    sheet = SampleSheet.read(path)
    assert [r.sample for r in sheet.rows] == ["P1_V1", "P1_V2"]
    assert sheet.rows[0].file == str(files[0].resolve())
    assert sheet.columns == ("subject", "visit", "volume_ul", "beads_per_test")
    assert sheet.rows[1].metadata == {"subject": "P1", "visit": 2, "volume_ul": 50.0, "beads_per_test": 50000.0}


def test_tsv_and_excel(tmp_path, files):
    tsv = _sheet(tmp_path, "file\tarm\nfcs/s00.fcs\tplacebo\n", "sheet.tsv")
    assert SampleSheet.read(tsv).rows[0].metadata == {"arm": "placebo"}
    xlsx = tmp_path / "sheet.xlsx"
    pd.DataFrame({"file": ["fcs/s01.fcs", "fcs/s02.fcs"], "sample": ["a", "b"], "day": [1, 15]}).to_excel(
        xlsx, index=False)
    sheet = SampleSheet.read(xlsx)
    assert [r.sample for r in sheet.rows] == ["a", "b"] and sheet.rows[1].metadata["day"] == 15


@pytest.mark.parametrize("text, where", [
    ("name\nx\n", "no 'file' column"),
    ("file\nfcs/missing.fcs\n", "row 2, column file"),
    ("file,sample\nfcs/s00.fcs,A\nfcs/s01.fcs,A\n", "row 3, column sample"),
    ("file,sample\nfcs/s00.fcs,A\nfcs/s00.fcs,B\n", "row 3, column file"),
    ("file,sample\nfcs/s00.fcs,a/b\nfcs/s01.fcs,a b\n", "duplicate sample name 'a_b'"),
    ("file,volume_ul\nfcs/s00.fcs,50\nfcs/s01.fcs,lots\n", "row 3, column volume_ul"),
    ("file,wbc_per_ul\nfcs/s00.fcs,-3\n", "row 2, column wbc_per_ul"),
    ("file,count\nfcs/s00.fcs,3\n", "column count"),
    ("file\n\n", "no rows"),
])
def test_bad_sheets_name_row_and_column(tmp_path, files, text, where):
    with pytest.raises(SampleSheetError, match="sheet.csv") as info:
        SampleSheet.read(_sheet(tmp_path, text))
    assert where in str(info.value)


def test_match_inputs_by_file_name(tmp_path, files):
    sheet = _sheet(tmp_path, "file,sample,arm\nfcs/s00.fcs,A,x\nfcs/s01.fcs,B,y\nfcs/s02.fcs,C,z\n")
    tasks, meta, _ = plan_tasks([str(files[2]), str(files[0])], sheet)
    assert [t.sample for t in tasks] == ["C", "A"]
    assert meta["C"] == {"arm": "z"}
    extra = tmp_path / "other" / "s09.fcs"
    extra.parent.mkdir()
    extra.write_bytes(files[0].read_bytes())
    with pytest.raises(SampleSheetError, match="'s09.fcs' has no row"):
        plan_tasks([str(extra)], sheet)


def test_same_stem_without_sheet_is_a_clear_error(tmp_path, files):
    other = tmp_path / "plate2"
    other.mkdir()
    (other / "s00.fcs").write_bytes(files[0].read_bytes())
    with pytest.raises(BatchError, match="both be sample 's00'"):
        plan_tasks([str(files[0]), str(other / "s00.fcs")], None)


def test_sheet_columns_reach_counts_and_nothing_written_on_bad_sheet(tmp_path, files):
    strategy = write_strategy(tmp_path)
    sheet = _sheet(tmp_path, "file,sample,subject,day\nfcs/s00.fcs,A,P1,1\nfcs/s01.fcs,B,P2,15\n")
    out = tmp_path / "out"
    result = run_batch(strategy, [], out, samples=sheet, options=BatchOptions(workers=1, progress=False))
    assert result.exit_code == 0
    counts = pd.read_csv(out / "counts.csv")
    assert list(counts.columns[:9]) == ["sample", "file", "population", "name", "parent", "count",
                                        "parent_count", "freq_parent", "freq_total"]
    assert set(counts["subject"]) == {"P1", "P2"}
    assert counts.loc[counts["sample"] == "B", "day"].unique().tolist() == [15]
    parquet = pd.read_parquet(out / "counts.parquet")
    assert parquet["day"].dtype == "int64"

    bad = _sheet(tmp_path, "file\nfcs/nope.fcs\n", "bad.csv")
    with pytest.raises(SampleSheetError):
        run_batch(strategy, [], tmp_path / "never", samples=bad, options=BatchOptions(workers=1))
    assert not (tmp_path / "never").exists()
