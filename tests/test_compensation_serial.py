"""The serial and threaded weighted sums give the same bits (the gates use either, statistics the serial one)."""

from __future__ import annotations

import numpy as np
import pytest

from cytogate.compensation import weighted_sums
from cytogate.threads import PARALLEL_MIN, threads_disabled


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 511, 513, PARALLEL_MIN + 777])
def test_serial_equals_threaded_and_the_plain_sum(n, dtype):
    rng = np.random.default_rng(n)
    events = (rng.normal(0.0, 1.0, (n, 9)) * 10.0 ** rng.integers(-3, 6, (n, 9))).astype(dtype)
    events[rng.random((n, 9)) < 0.01] = np.nan
    weights = rng.normal(size=(5, 6))
    weights[rng.random((5, 6)) < 0.3] = 0.0  # skipped: a NaN there does not reach the output
    columns = [0, 2, 3, 5, 7, 8]
    threaded = weighted_sums(events, columns, weights)
    with threads_disabled():
        serial = weighted_sums(events, columns, weights)
    np.testing.assert_array_equal(serial, threaded)
    expected = np.zeros((5, n))
    for q in range(5):
        for j, c in enumerate(columns):
            if weights[q, j] != 0.0:
                expected[q] += weights[q, j] * events[:, c].astype(np.float64)
    np.testing.assert_array_equal(serial, expected)
