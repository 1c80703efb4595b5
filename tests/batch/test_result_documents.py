"""A sample's tables in its cached result document: JSON without NaN, and back unchanged."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from cytogate.batch.resume import SampleRecord, frame_document, table_document


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "population": pd.Series(["/", "/A", None], dtype=object),
        "n": np.array([10, 0, 3], dtype=np.int64),
        "flag": np.array([True, False, True]),
        "median": np.array([1.5, np.nan, -0.0]),
        "mean": np.array([np.inf, -np.inf, 5e-324]),
        "ratio": np.array([0.25, np.nan, np.nan], dtype=np.float32),
    })


def test_nan_is_null_and_every_value_a_plain_json_value():
    document = frame_document(_frame())
    text = json.dumps(document, allow_nan=True)
    assert "NaN" not in text
    data = document["data"]
    assert data["median"] == [1.5, None, -0.0] and type(data["median"][0]) is float
    assert data["n"] == [10, 0, 3] and all(type(v) is int for v in data["n"])
    assert data["flag"] == [True, False, True] and all(type(v) is bool for v in data["flag"])
    assert data["ratio"] == [0.25, None, None]
    assert data["population"] == ["/", "/A", None]


def test_the_table_comes_back_from_the_record_unchanged():
    frame = _frame()
    empty = pd.DataFrame({"x": np.array([], dtype=np.float64)})
    record = SampleRecord("s", "s.fcs", "k", "0" * 64, 3, 3, counts=frame, stats=empty)
    back = SampleRecord.from_json(json.loads(json.dumps(record.to_json())))
    pd.testing.assert_frame_equal(back.counts, frame)
    assert np.signbit(back.counts["median"].iloc[2])  # -0.0 kept
    pd.testing.assert_frame_equal(back.stats, empty)


def test_columns_given_as_lists_are_converted_alike():
    columns = ["median", "n"]
    from_lists = table_document(columns, ["float64", "int64"], {"median": [1.0, float("nan")], "n": [1, 2]})
    from_arrays = table_document(columns, ["float64", "int64"],
                                 {"median": np.array([1.0, np.nan]), "n": np.array([1, 2])})
    assert from_lists == from_arrays == {"columns": columns, "dtypes": ["float64", "int64"],
                                         "data": {"median": [1.0, None], "n": [1, 2]}}
