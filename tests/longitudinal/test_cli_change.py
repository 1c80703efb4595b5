import json

import numpy as np
import pandas as pd
import pytest

from cytogate.cli import main


def _counts(path, *, seed=11):
    rng = np.random.default_rng(seed)
    rows = []
    for arm, n, effect in (("Placebo", 8, 0.0), ("Drug", 8, -0.8)):
        for i in range(n):
            base = rng.normal(6, 0.3)
            for k, (visit, day) in enumerate((("Baseline", 1), ("Week 4", 29), ("Week 12", 85))):
                for pop, sign in (("/L/B cells", 1), ("/L/Tregs", -1)):
                    count = int(np.exp(base + sign * effect * k / 2 + rng.normal(0, 0.2)))
                    rows.append({
                        "sample": f"{arm}{i}_{k}", "population": pop, "name": pop.rsplit("/", 1)[1], "count": count,
                        "subject": f"{arm}{i}", "arm": arm, "visit": visit, "day": day,
                    })  # fmt: skip
    table = pd.DataFrame(rows)
    if str(path).endswith(".parquet"):
        table.to_parquet(path)
    else:
        table.to_csv(path, index=False)
    return path


ARGS = ["--subject", "subject", "--arm", "arm", "--visit", "visit", "--baseline", "Baseline",
        "--control", "Placebo", "--value", "count", "--by", "population"]  # fmt: skip


def test_help_has_a_worked_example(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["change", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "example:" in out and "cytogate change run1/counts.csv" in out and "--model" in out


def test_change_command_writes_tables_and_figures(tmp_path):
    table = _counts(tmp_path / "counts.csv")
    out = tmp_path / "out"
    code = main(["change", str(table), *ARGS, "--model", "ancova", "--adjust", "holm", "--day", "day",
                 "--out", str(out)])  # fmt: skip
    assert code == 0
    change = pd.read_csv(out / "change.csv")
    summary = pd.read_csv(out / "summary.csv")
    contrasts = pd.read_csv(out / "contrasts.csv")
    assert len(change) == 16 * 3 * 2 and len(summary) == 2 * 2 * 3
    assert list(contrasts.columns[:15]) == [
        "population", "visit", "arm", "estimate", "se", "df", "ci_low", "ci_high", "p", "ratio", "pct_change",
        "pct_ci_low", "pct_ci_high", "p_adj", "method"]  # fmt: skip
    row = contrasts[(contrasts["population"] == "/L/B cells") & (contrasts["visit"] == "Week 12")].iloc[0]
    assert row["pct_ci_low"] < 100 * (np.exp(-0.8) - 1) < row["pct_ci_high"]
    assert "Holm" in row["method"]
    for stem in ("pct_change_median_iqr", "ratio_over_time", "forest_Week_12"):
        assert (out / "figures" / f"{stem}.png").is_file() and (out / "figures" / f"{stem}.svg").is_file()
    assert json.loads((out / "analysis.json").read_text())["settings"]["adjust"] == "holm"


def test_analysis_yaml_with_command_line_override(tmp_path):
    table = _counts(tmp_path / "counts.parquet")
    yaml_path = tmp_path / "analysis.yaml"
    yaml_path.write_text(
        "cytogate_analysis: 1\nsubject: subject\narm: arm\nvisit: visit\nvalue: count\nbaseline: Baseline\n"
        "control: Placebo\nby: [population]\nmodel: ancova\nlloq: {limit: 50, rule: half}\n"
        "where: {name: [B cells]}\nfigures: false\n"
    )
    out = tmp_path / "out"
    assert main(["change", str(table), "--analysis", str(yaml_path), "--model", "wilcoxon", "--out", str(out)]) == 0
    contrasts = pd.read_csv(out / "contrasts.csv")
    assert set(contrasts["population"]) == {"/L/B cells"}
    assert contrasts["method"].str.startswith("Wilcoxon").all()
    assert not (out / "figures").exists()
    settings = json.loads((out / "analysis.json").read_text())["settings"]
    assert settings["lloq"]["text"] == "values below LLOQ 50 set to LLOQ/2 (25)"


@pytest.mark.parametrize(
    ("change_args", "message"),
    [
        (["--value", "cells_per_ul"], "column 'cells_per_ul' not found"),
        (["--control", "PBO"], "control arm 'PBO' not found"),
        (["--baseline", "Screening"], "no baseline value for any subject at visit 'Screening'"),
        (["--by", "tube"], "column 'tube' not found"),
    ],
)
def test_input_errors_exit_2_with_one_line(tmp_path, capsys, change_args, message):
    table = _counts(tmp_path / "counts.csv")
    code = main(["change", str(table), *ARGS, *change_args, "--model", "ancova", "--no-figures",
                 "--out", str(tmp_path / "out")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_missing_required_options_and_missing_table(tmp_path, capsys):
    assert main(["change", str(tmp_path / "none.csv"), *ARGS, "--out", str(tmp_path / "o")]) == 2
    assert "table not found" in capsys.readouterr().err
    table = _counts(tmp_path / "counts.csv")
    assert main(["change", str(table), "--out", str(tmp_path / "o")]) == 2
    assert "missing --subject, --arm, --visit, --value, --control" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("subject: s\nmodle: ancova\n")
    assert main(["change", str(table), "--analysis", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "unknown keys ['modle']" in capsys.readouterr().err


def test_settings_from_mapping_parse_windows_lloq_and_subgroup():
    from cytogate.errors import ModelError
    from cytogate.longitudinal import ChangeSettings, LloqRule, SubgroupRule, VisitWindow

    s = ChangeSettings.from_mapping({
        "cytogate_analysis": 1, "subject": "s", "arm": "a", "visit": "v", "value": "x", "control": 0.0,
        "baseline_method": "last_before_day1", "day": "d", "by": "population", "lloq": 10,
        "windows": {"Week 4": {"day": 29, "window": [22, 36]}},
        "subgroup": {"name": "g", "where": {"population": "B"}, "cutoff": 3},
    }, model="ancova")  # fmt: skip
    assert s.control == "0.0" and s.by == ("population",) and s.model == "ancova"
    assert s.lloq == LloqRule(10.0, "half") and s.windows == (VisitWindow("Week 4", 29, 22, 36),)
    assert s.subgroup == SubgroupRule(name="g", where={"population": "B"}, cutoff=3.0)
    with pytest.raises(ModelError, match="version"):
        ChangeSettings.from_mapping({"cytogate_analysis": 2})
    with pytest.raises(ModelError, match="baseline visit label is required"):
        ChangeSettings(subject="s", arm="a", visit="v", value="x", control="P")
    with pytest.raises(ModelError, match="unknown model"):
        ChangeSettings(subject="s", arm="a", visit="v", value="x", control="P", baseline="BL", model="glmm")


def test_default_model_is_the_mmrm_on_log_counts(tmp_path):
    table = _counts(tmp_path / "counts.csv")
    out = tmp_path / "out"
    assert main(["change", str(table), *ARGS, "--no-figures", "--out", str(out)]) == 0
    contrasts = pd.read_csv(out / "contrasts.csv")
    assert contrasts["method"].str.startswith("MMRM log_value ~ log_baseline + ARM*VISIT, covariance un").all()
    assert contrasts["method"].str.contains("satterthwaite df").all()
    row = contrasts[(contrasts["population"] == "/L/Tregs") & (contrasts["visit"] == "Week 12")].iloc[0]
    assert row["pct_ci_low"] < 100 * (np.exp(0.8) - 1) < row["pct_ci_high"]
    assert row["df"] != round(row["df"])  # Satterthwaite df are not integers here


def test_kenward_roger_option_reaches_the_mmrm(tmp_path):
    table = _counts(tmp_path / "counts.csv")
    out = tmp_path / "out"
    assert main(["change", str(table), *ARGS, "--df", "kenward-roger", "--cov", "cs", "--no-figures",
                 "--out", str(out)]) == 0  # fmt: skip
    method = pd.read_csv(out / "contrasts.csv")["method"]
    assert method.str.contains("covariance cs, REML, kenward-roger df").all()
