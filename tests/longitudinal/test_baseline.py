import math

import numpy as np
import pandas as pd
import pytest

from cytogate.errors import ModelError
from cytogate.longitudinal.baseline import VisitWindow, assign_visit_windows, derive_baseline

W4 = VisitWindow("Week 4", 29, 22, 36)
BASE = VisitWindow("Baseline", 1, -28, 1)


def _samples(rows):
    return pd.DataFrame(rows, columns=["subject", "day", "visit", "value"])


def test_nearest_sample_wins():
    t = _samples([("s1", 25, "Week 4", 1.0), ("s1", 31, "Unscheduled", 2.0)])
    out = assign_visit_windows(t, [W4], subject="subject", day="day")
    assert out["value"].tolist() == [2.0]  # |31-29| = 2 < |25-29| = 4
    assert out["visit"].tolist() == ["Week 4"]
    assert out["visit_nominal"].tolist() == ["Unscheduled"]
    assert out["window_distance"].tolist() == [2.0]


def test_tie_goes_to_the_later_sample():
    t = _samples([("s1", 27, "Week 4", 1.0), ("s1", 31, "Unscheduled", 2.0)])
    out = assign_visit_windows(t, [W4], subject="subject", day="day")
    assert out["day"].tolist() == [31]
    # order of the input rows does not matter
    out2 = assign_visit_windows(t.iloc[::-1], [W4], subject="subject", day="day")
    assert out2["day"].tolist() == [31]


def test_window_bounds_are_inclusive_and_outside_samples_unused():
    t = _samples([
        ("s1", 22, "Unscheduled", 1.0),  # lower bound: inside
        ("s2", 36, "Unscheduled", 2.0),  # upper bound: inside
        ("s3", 37, "Unscheduled", 3.0),  # outside every window
        ("s3", 60, "Week 4", 4.0),  # scheduled but far outside: not used either
    ])  # fmt: skip
    out = assign_visit_windows(t, [BASE, W4], subject="subject", day="day")
    assert sorted(out["subject"]) == ["s1", "s2"]


def test_missing_value_is_not_eligible_when_value_given():
    t = _samples([("s1", 29, "Week 4", np.nan), ("s1", 33, "Unscheduled", 5.0)])
    out = assign_visit_windows(t, [W4], subject="subject", day="day", value="value")
    assert out["value"].tolist() == [5.0]
    out = assign_visit_windows(t, [W4], subject="subject", day="day")
    assert np.isnan(out["value"].iloc[0])


def test_selection_is_per_by_group():
    t = pd.DataFrame({"subject": ["s1"] * 4, "pop": ["B", "B", "T", "T"], "day": [28, 31, 28, 31],
                      "value": [np.nan, 2, 3, 4]})  # fmt: skip
    out = assign_visit_windows(t, [W4], subject="subject", day="day", by=["pop"], value="value")
    assert dict(zip(out["pop"], out["value"])) == {"B": 2, "T": 3}


def test_overlapping_or_bad_windows_are_rejected():
    with pytest.raises(ModelError, match="overlap"):
        assign_visit_windows(_samples([("s1", 1, "x", 1.0)]), [BASE, VisitWindow("Day 1", 1, 1, 3)],
                             subject="subject", day="day")  # fmt: skip
    with pytest.raises(ModelError, match="lower <= target_day"):
        VisitWindow("bad", 10, 11, 20)
    with pytest.raises(ModelError, match="column 'day'"):
        assign_visit_windows(pd.DataFrame({"subject": ["a"]}), [W4], subject="subject", day="day")


def test_window_from_mapping():
    assert VisitWindow.from_mapping("Week 4", {"day": 29, "window": [22, 36]}) == W4
    assert VisitWindow.from_mapping("W", {"day": 10, "half_width": 3}) == VisitWindow("W", 10, 7, 13)
    with pytest.raises(ModelError, match="Week 4"):
        VisitWindow.from_mapping("Week 4", {"window": [1, 2]})


def test_baseline_at_named_visit():
    t = _samples([("s1", 1, "BL", 10.0), ("s1", 29, "W4", 5.0), ("s2", 1, "BL", np.nan), ("s2", 29, "W4", 3.0)])
    base = derive_baseline(t, subject="subject", value="value", visit="visit", baseline_visit="BL")
    assert base[["subject", "baseline"]].values.tolist() == [["s1", 10.0]]  # s2 has no baseline


def test_no_baseline_for_anyone_names_the_visit():
    t = _samples([("s1", 29, "W4", 5.0)])
    with pytest.raises(ModelError, match="no baseline value for any subject at visit 'BL'"):
        derive_baseline(t, subject="subject", value="value", visit="visit", baseline_visit="BL")


def test_last_non_missing_value_on_or_before_day1():
    t = _samples([
        ("s1", -10, "SCR", 7.0), ("s1", -3, "SCR2", 8.0), ("s1", 1, "D1", np.nan), ("s1", 5, "D5", 99.0),
        ("s2", -20, "SCR", 4.0), ("s2", 1, "D1", 6.0), ("s2", 2, "D2", 50.0),
    ])  # fmt: skip
    base = derive_baseline(t, subject="subject", value="value", day="day", method="last_before_day1")
    assert dict(zip(base["subject"], base["baseline"])) == {"s1": 8.0, "s2": 6.0}
    assert dict(zip(base["subject"], base["baseline_day"])) == {"s1": -3, "s2": 1}
    # a 2-day look-back (days -1..1) leaves s1 without a non-missing value
    base = derive_baseline(t, subject="subject", value="value", day="day", method="last_before_day1", lookback=2)
    assert dict(zip(base["subject"], base["baseline"])) == {"s2": 6.0}


def test_duplicate_baseline_candidates_are_an_error():
    t = _samples([("s1", 1, "BL", 10.0), ("s1", 1, "BL", 11.0)])
    with pytest.raises(ModelError, match="more than one baseline value.*s1"):
        derive_baseline(t, subject="subject", value="value", visit="visit", baseline_visit="BL")
    with pytest.raises(ModelError, match="more than one baseline value"):
        derive_baseline(t, subject="subject", value="value", day="day", method="last_before_day1")


def test_baseline_method_needs_its_columns():
    t = _samples([("s1", 1, "BL", 10.0)])
    with pytest.raises(ModelError, match="study-day"):
        derive_baseline(t, subject="subject", value="value", method="last_before_day1")
    with pytest.raises(ModelError, match="unknown baseline method"):
        derive_baseline(t, subject="subject", value="value", method="first")  # type: ignore[arg-type]
    assert math.isinf(derive_baseline.__kwdefaults__["lookback"])
