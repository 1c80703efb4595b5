"""The compiled mode search gives exactly the modes of its numpy formulation, and its sums are numpy's.

``reference_modes`` is the formulation the fits were validated with (numpy's
argmin, moved to the middle of a flat bottom, numpy's sums, scipy's
``find_peaks``); the compiled one must equal it to the last bit, masses included.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.signal import find_peaks

from cytogate.adaptive import kde
from cytogate.adaptive.density import Density
from cytogate.adaptive.modes import Mode, find_modes, valleys_between
from cytogate.adaptive.order import pairwise_sum


def _reference_valley(density: np.ndarray, a: int, b: int) -> int:
    """The lowest point of density[a:b + 1]: numpy's argmin, moved to the middle of a run of equal lowest values."""
    segment = density[a:b + 1]
    first = last = int(np.argmin(segment))
    while not np.isnan(segment[first]) and last + 1 < segment.size and segment[last + 1] == segment[first]:
        last += 1
    return a + (first + last) // 2


def _reference_masses(density: np.ndarray, peaks: list[int]) -> np.ndarray:
    basins = [_reference_valley(density, a, b) for a, b in zip(peaks[:-1], peaks[1:])]
    cuts = [0, *basins, density.size]
    total = float(density.sum()) or 1.0
    return np.array([density[a:b].sum() / total for a, b in zip(cuts[:-1], cuts[1:])])


def reference_modes(est: Density, *, min_prominence: float, min_mass: float) -> list[Mode]:
    padded = np.concatenate(([0.0], est.density, [0.0]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns about zero prominences
        found = find_peaks(padded, prominence=min_prominence * float(est.density.max()))[0]
    peaks = [int(p) - 1 for p in found]
    mass = _reference_masses(est.density, peaks) if peaks else np.empty(0)
    while len(peaks) > 1:
        smallest = int(np.argmin(mass))
        if mass[smallest] >= min_mass:
            break
        peaks.pop(smallest)
        mass = _reference_masses(est.density, peaks)
    return [Mode(p, float(est.grid[p]), float(est.density[p]), float(m)) for p, m in zip(peaks, mass)]


def _densities(rng: np.random.Generator):
    for trial in range(250):
        kind = trial % 5
        if kind < 3:  # kernel estimates of mixtures, as the fits make them
            parts = [rng.normal(rng.random() * 4, 0.05 + rng.random() * 0.5, int(rng.integers(5, 3000)))
                     for _ in range(int(rng.integers(1, 5)))]
            yield kde(np.concatenate(parts), adjust=float(rng.choice([0.3, 0.6, 1.0, 2.0])))
        else:
            n = int(rng.integers(3, 300))
            raw = rng.random(n) if kind == 3 else np.round(rng.random(n) * 4) / 4  # noise; plateaus and ties
            if rng.random() < 0.3:
                raw[: n // 3] = 0.0  # a flat stretch of zeros
            if rng.random() < 0.3:
                raw[n // 3: n // 2] = 0.0  # an empty stretch between bumps
            yield Density(grid=np.linspace(0.0, 1.0, n), density=raw, bandwidth=0.01)


@pytest.mark.parametrize("min_prominence,min_mass", [(0.0, 0.0), (0.02, 0.01), (0.05, 0.1), (0.3, 0.4)])
def test_modes_equal_the_numpy_formulation(min_prominence, min_mass):
    for est in _densities(np.random.default_rng(int(min_prominence * 1000) + 7)):
        got = find_modes(est, min_prominence=min_prominence, min_mass=min_mass)
        want = reference_modes(est, min_prominence=min_prominence, min_mass=min_mass)
        assert got == want
        if len(got) > 1:  # the valleys between them too
            expected = [_reference_valley(est.density, a, b) for a, b in
                        zip([m.index for m in got][:-1], [m.index for m in got][1:])]
            assert [v.index for v in valleys_between(est, got)] == expected


def test_all_zero_density_has_no_modes_and_no_division_by_zero():
    est = Density(grid=np.linspace(0, 1, 50), density=np.zeros(50), bandwidth=0.1)
    assert find_modes(est, min_prominence=0.0, min_mass=0.0) == reference_modes(est, min_prominence=0.0,
                                                                                min_mass=0.0)


def test_pairwise_sum_is_numpys_sum():
    rng = np.random.default_rng(3)
    for _ in range(1500):
        n = int(rng.integers(0, 3000))
        x = rng.normal(size=n) * 10.0 ** rng.integers(-3, 6)
        lo = int(rng.integers(0, n + 1))
        hi = int(rng.integers(lo, n + 1))
        assert pairwise_sum(x, lo, hi) == x[lo:hi].sum()
