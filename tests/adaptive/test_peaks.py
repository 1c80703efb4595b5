"""The compiled peak search finds exactly the peaks scipy's ``find_peaks`` finds with a prominence."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.signal import find_peaks

from cytogate.adaptive.modes import _prominent_peaks


def _arrays(rng: np.random.Generator):
    for trial in range(3000):
        n = int(rng.integers(3, 300))
        kind = trial % 4
        if kind == 0:
            yield rng.random(n)
        elif kind == 1:  # plateaus and ties everywhere
            yield np.round(rng.random(n) * 5) / 5
        elif kind == 2:
            yield np.convolve(rng.random(n), np.ones(7) / 7, "same")
        else:  # a padded density: zeros at both ends, flat stretches of zeros
            yield np.concatenate(([0.0], np.clip(np.sin(np.linspace(0, 20 * rng.random(), n)), 0, None), [0.0]))


@pytest.mark.parametrize("fraction", [0.0, 0.02, 0.1, 0.5])
def test_same_peaks_as_scipy(fraction):
    for x in _arrays(np.random.default_rng(int(fraction * 100))):
        minimum = fraction * float(x.max())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scipy warns about zero prominences
            expected = find_peaks(x, prominence=minimum)[0]
        assert np.array_equal(_prominent_peaks(x, minimum), expected), (x.tolist(), minimum)
