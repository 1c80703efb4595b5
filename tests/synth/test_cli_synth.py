"""`cytogate synth sample|trial` from the command line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cytogate.cli import main


def test_synth_sample_writes_fcs_and_labels(tmp_path, capsys):
    from cytogate import read_fcs

    out, labels = tmp_path / "s1.fcs", tmp_path / "s1.parquet"
    code = main(["synth", "sample", "--panel", "b_cell", "--events", "3000", "--seed", "1", "--out", str(out),
                 "--labels", str(labels), "--shift", "fsc=1.1,CD19=0.8"])  # fmt: skip
    assert code == 0
    assert "wrote" in capsys.readouterr().out
    sample = read_fcs(out)
    assert sample.n_events == 3000 and "CD268" in list(sample.markers)
    assert sample.keywords["$SRC"] == "s1"
    table = pd.read_parquet(labels)
    assert len(table) == 3000 and {"label", "B cells", "CD268+ B", "Live"} <= set(table.columns)
    assert table["B cells"].dtype == bool and table["B cells"].sum() > 0
    from cytogate.synth import synthesize_sample

    again = synthesize_sample("b_cell", 3000, 1, "fsc=1.1,CD19=0.8")
    np.testing.assert_array_equal(np.asarray(sample.events), again.events)
    np.testing.assert_array_equal(table["label"].astype(str), np.asarray(again.labels).astype(str))


def test_synth_sample_csv_labels(tmp_path):
    labels = tmp_path / "l.csv"
    assert main(["synth", "sample", "--events", "500", "--out", str(tmp_path / "x.fcs"), "--labels", str(labels)]) == 0
    assert list(pd.read_csv(labels).columns[:2]) == ["event", "label"]


def test_synth_trial_writes_a_trial(tmp_path, capsys):
    code = main(["synth", "trial", "--out", str(tmp_path / "t"), "--subjects-per-arm", "1", "--events", "800",
                 "--seed", "4"])  # fmt: skip
    assert code == 0
    sheet = pd.read_csv(tmp_path / "t" / "samples.csv")
    assert len(sheet) == 16 and set(sheet["arm"]) == {"Placebo", "0.15 mg", "0.3 mg", "0.45 mg"}
    assert (tmp_path / "t" / "truth.csv").is_file()
    assert "16 FCS files" in capsys.readouterr().out


def test_synth_trial_custom_arms(tmp_path):
    code = main(["synth", "trial", "--out", str(tmp_path / "t"), "--arms", "Placebo=2", "0.45 mg=1", "--events", "300",
                 "--drift", "0"])  # fmt: skip
    assert code == 0
    sheet = pd.read_csv(tmp_path / "t" / "samples.csv")
    assert sheet.groupby("arm")["subject"].nunique().to_dict() == {"0.45 mg": 1, "Placebo": 2}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["synth", "sample", "--panel", "nope", "--out", "x.fcs"], "unknown panel 'nope'"),
        (["synth", "sample", "--shift", "CD99=2", "--out", "x.fcs"], "shift key 'CD99'"),
        (["synth", "sample", "--events", "0", "--out", "x.fcs"], "--events must be"),
        (["synth", "trial", "--out", "t", "--arms", "Placebo"], "not ARM=N"),
        (["synth", "trial", "--out", "t", "--arms", "Drug=1"], "cannot read a dose"),
    ],
)
def test_bad_input_exits_2_with_a_message(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_synth_without_kind_prints_help(capsys):
    assert main(["synth"]) == 2
    assert "sample" in capsys.readouterr().err
