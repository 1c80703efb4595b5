"""The density's convolution gives scipy's ``fftconvolve(..., mode="same")`` bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import fftconvolve

from cytogate.adaptive.density import convolve_same


def _gaussian(half: int) -> np.ndarray:
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) / max(half / 4, 0.3)) ** 2)
    return kernel / kernel.sum()


@pytest.mark.parametrize("n_signal", [1, 2, 7, 1024, 1031])
@pytest.mark.parametrize("half", [0, 1, 5, 60, 400, 700])
def test_equals_scipy_fftconvolve_same(n_signal, half):
    rng = np.random.default_rng(n_signal * 1000 + half)
    signal = rng.integers(0, 5000, n_signal).astype(np.float64)
    kernel = _gaussian(half)
    expected = fftconvolve(signal, kernel, mode="same")
    got = convolve_same(signal, kernel)
    assert got.shape == expected.shape
    assert np.array_equal(got, expected)


def test_random_lengths_equal_scipy():
    rng = np.random.default_rng(7)
    for _ in range(300):
        signal = rng.random(int(rng.integers(1, 3000))) * 100
        kernel = _gaussian(int(rng.integers(0, 600)))
        assert np.array_equal(convolve_same(signal, kernel), fftconvolve(signal, kernel, mode="same"))
