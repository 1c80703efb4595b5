import numpy as np
import pandas as pd
import pytest

from cytogate.errors import DataQualityWarning, ModelError
from cytogate.longitudinal.baseline import VisitWindow
from cytogate.longitudinal.change import LloqRule, change_from_baseline, natural_key, order_arms, order_visits

KW = dict(subject="subj", arm="trt", visit="vis", value="val", baseline="BL")


def _table(rows):
    return pd.DataFrame(rows, columns=["subj", "trt", "vis", "val"])


def test_hand_computed_change_pct_and_log_ratio():
    t = _table([("a", "P", "BL", 200.0), ("a", "P", "W4", 150.0), ("a", "P", "W12", 400.0)])
    c = change_from_baseline(t, **KW)
    assert c["visit"].astype(str).tolist() == ["BL", "W4", "W12"]
    assert c["baseline"].tolist() == [200.0] * 3
    assert c["change"].tolist() == [0.0, -50.0, 200.0]
    assert c["pct_change"].tolist() == [0.0, -25.0, 100.0]
    np.testing.assert_allclose(c["log_ratio"], [0.0, np.log(0.75), np.log(2.0)], rtol=1e-15)
    np.testing.assert_allclose(c["log_value"], np.log([200, 150, 400]))
    assert c["is_baseline"].tolist() == [True, False, False]
    assert not c["pct_change_undefined"].any()


def test_zero_baseline_gives_flagged_nan_never_infinite():
    t = _table([("a", "P", "BL", 0.0), ("a", "P", "W4", 5.0), ("b", "P", "BL", 4.0), ("b", "P", "W4", 0.0)])
    with pytest.warns(DataQualityWarning, match="1 subject"):
        c = change_from_baseline(t, **KW)
    a = c[c["subject"] == "a"]
    assert a["pct_change"].isna().all() and a["pct_change_undefined"].all()
    assert a["change"].tolist() == [0.0, 5.0]
    assert a["log_ratio"].isna().all()  # log(0) undefined
    b = c[(c["subject"] == "b") & (c["visit"] == "W4")].iloc[0]
    assert b["pct_change"] == -100.0 and not b["pct_change_undefined"]
    assert np.isnan(b["log_ratio"]) and np.isnan(b["log_value"])
    derived = c[["pct_change", "log_ratio"]].to_numpy(dtype=float)
    assert not np.isinf(derived).any()


@pytest.mark.parametrize(("mode", "replacement"), [("half", 5.0), ("limit", 10.0), ("zero", 0.0)])
def test_lloq_rule_replaces_values_below_the_limit(mode, replacement):
    rule = LloqRule(10.0, mode)
    t = _table([("a", "P", "BL", 4.0), ("a", "P", "W4", 10.0), ("a", "P", "W12", 40.0)])
    if replacement == 0.0:
        with pytest.warns(DataQualityWarning):
            c = change_from_baseline(t, lloq=rule, **KW)
    else:
        c = change_from_baseline(t, lloq=rule, **KW)
    assert c["value"].tolist() == [replacement, 10.0, 40.0]  # 10 is not below the limit of 10
    assert c["below_lloq"].tolist() == [True, False, False]
    assert c["baseline_below_lloq"].all()
    assert c["value_reported"].tolist() == [4.0, 10.0, 40.0]
    assert c["baseline"].iloc[0] == replacement
    if replacement:
        assert c["pct_change"].iloc[2] == pytest.approx(100 * (40 - replacement) / replacement)


def test_lloq_rule_missing_and_description():
    rule = LloqRule(1.5, "missing")
    assert rule.describe() == "values below LLOQ 1.5 set to missing (nan)"
    assert LloqRule(10).describe() == "values below LLOQ 10 set to LLOQ/2 (5)"
    out, below = rule.apply(np.array([1.0, 2.0, np.nan]))
    assert np.isnan(out[0]) and out[1] == 2.0 and np.isnan(out[2])
    assert below.tolist() == [True, False, False]
    with pytest.raises(ModelError):
        LloqRule(-1)
    with pytest.raises(ModelError):
        LloqRule(1, "quarter")  # type: ignore[arg-type]


def test_by_groups_have_their_own_baselines():
    t = pd.DataFrame({
        "subj": ["a"] * 4, "trt": ["P"] * 4, "vis": ["BL", "W4", "BL", "W4"],
        "pop": ["B", "B", "T", "T"], "val": [100.0, 50.0, 10.0, 30.0],
    })  # fmt: skip
    c = change_from_baseline(t, by=["pop"], **KW)
    assert c.columns[0] == "pop"
    w4 = c[c["visit"] == "W4"].set_index("pop")
    assert w4.loc["B", "pct_change"] == -50.0 and w4.loc["T", "pct_change"] == 200.0


def test_subject_without_baseline_keeps_rows_with_missing_change():
    t = _table([("a", "P", "BL", 2.0), ("a", "P", "W4", 4.0), ("b", "P", "W4", 3.0)])
    c = change_from_baseline(t, **KW)
    b = c[c["subject"] == "b"].iloc[0]
    assert np.isnan(b["baseline"]) and np.isnan(b["change"]) and not b["pct_change_undefined"]


def test_visit_and_arm_order():
    assert natural_key("Week 4") < natural_key("Week 12")
    assert order_visits(["Week 24", "Week 4", "Baseline", "Week 12"], baseline="Baseline") == [
        "Baseline", "Week 4", "Week 12", "Week 24"]  # fmt: skip
    assert order_arms(["0.45 mg", "Placebo", "0.15 mg", "0.3 mg"], control="Placebo") == [
        "Placebo", "0.15 mg", "0.3 mg", "0.45 mg"]  # fmt: skip
    days = pd.Series({"Screening": -7, "Day 1": 1, "End": 200, "Month 3": 90})
    assert order_visits(days.index, days=days) == ["Screening", "Day 1", "Month 3", "End"]


def test_explicit_visit_order_drops_other_visits():
    t = _table([("a", "P", "BL", 2.0), ("a", "P", "W4", 4.0), ("a", "P", "UNS", 9.0)])
    c = change_from_baseline(t, visits=["BL", "W4"], **KW)
    assert c["visit"].astype(str).tolist() == ["BL", "W4"]


def test_windows_assign_analysis_visits():
    t = pd.DataFrame({
        "subj": ["a"] * 4, "trt": ["P"] * 4, "vis": ["Day 1", "Week 4", "Unscheduled", "Unscheduled"],
        "day": [1, 25, 30, 90], "val": [10.0, 20.0, 30.0, 99.0],
    })  # fmt: skip
    windows = [VisitWindow("Baseline", 1, -28, 1), VisitWindow("Week 4", 29, 22, 36)]
    c = change_from_baseline(t, subject="subj", arm="trt", visit="vis", value="val", baseline="Baseline",
                             day="day", windows=windows)  # fmt: skip
    assert c["visit"].astype(str).tolist() == ["Baseline", "Week 4"]
    assert c["value"].tolist() == [10.0, 30.0]  # the unscheduled day-30 sample is nearer day 29
    assert c["day"].tolist() == [1, 30]


def test_last_before_day1_baseline_method():
    t = pd.DataFrame({"subj": ["a"] * 3, "trt": ["P"] * 3, "vis": ["SCR", "D1", "W4"], "day": [-5, 1, 29],
                      "val": [8.0, np.nan, 4.0]})  # fmt: skip
    c = change_from_baseline(t, subject="subj", arm="trt", visit="vis", value="val", day="day",
                             baseline_method="last_before_day1")  # fmt: skip
    w4 = c[c["visit"] == "W4"].iloc[0]
    assert w4["baseline"] == 8.0 and w4["pct_change"] == -50.0
    assert c["is_baseline"].tolist() == [True, True, False]


@pytest.mark.parametrize(
    ("table", "kwargs", "message"),
    [
        (_table([("a", "P", "BL", 1.0)]), {"value": "count"}, "column 'count' not found"),
        (_table([("a", "P", "W4", 1.0)]), {}, "no baseline value for any subject at visit 'BL'"),
        (_table([("a", "P", "BL", 1.0), ("a", "Q", "W4", 1.0)]), {}, "subject 'a' appears in more than one arm"),
        (_table([("a", "P", "BL", 1.0), ("a", "P", "BL", 2.0)]), {}, "more than one row for subject='a'"),
        (_table([("a", "P", "BL", "x")]), {}, "non-numeric value 'x'"),
    ],
)
def test_input_errors_name_the_column_or_value(table, kwargs, message):
    with pytest.raises(ModelError, match=message):
        change_from_baseline(table, **{**KW, **kwargs})


def test_reserved_by_column_is_rejected():
    t = _table([("a", "P", "BL", 1.0)]).assign(change=1)
    with pytest.raises(ModelError, match="reserved"):
        change_from_baseline(t, by=["change"], **KW)
