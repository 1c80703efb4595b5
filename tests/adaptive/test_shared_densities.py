"""Inside ``shared_densities`` an estimate or rule fit on equal values is reused, and nothing else is."""

from __future__ import annotations

import numpy as np

from cytogate.adaptive.density import kde, shared_densities
from cytogate.adaptive.specs import ThresholdRule


def _bimodal(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(0.3, 0.05, 20_000), rng.normal(0.7, 0.05, 20_000)])


def test_equal_values_reuse_the_density_and_other_values_do_not():
    x = _bimodal(1)
    with shared_densities():
        first = kde(x, adjust=1.5)
        assert kde(x.copy(), adjust=1.5) is first  # equal values, another array
        assert kde(x, adjust=1.0) is not first  # another bandwidth
        other = kde(_bimodal(2), adjust=1.5)
        assert other is not first and not np.array_equal(other.density, first.density)
    outside = kde(x, adjust=1.5)
    assert outside is not first  # the scope has ended
    assert np.array_equal(outside.density, first.density) and outside.bandwidth == first.bandwidth


def test_values_equal_at_the_probed_positions_but_not_elsewhere_are_not_reused():
    x = _bimodal(3)
    y = x.copy()
    y[1] += 0.01  # the first, middle and last values agree; another one does not
    z = x[::-1].copy()  # same values, another order: differs at the probes
    with shared_densities():
        first = kde(x, adjust=1.5)
        assert kde(x[:], adjust=1.5) is first  # a view of the same memory
        assert kde(y, adjust=1.5) is not first
        assert kde(z, adjust=1.5) is not first


def test_lookups_compare_whole_arrays_only_when_the_probes_agree(monkeypatch):
    from cytogate.adaptive import density

    compared = []
    real = np.array_equal
    monkeypatch.setattr(density.np, "array_equal", lambda a, b: compared.append(a.size) or real(a, b))
    x = _bimodal(4)
    with shared_densities():
        first = kde(x, adjust=1.5)
        assert kde(x[:], adjust=1.5) is first and kde(x[::-1].copy(), adjust=1.5) is not first
        assert compared == []  # the same memory, and values that differ at the first / middle / last
        assert kde(x.copy(), adjust=1.5) is first and compared == [x.size]


def test_a_rule_that_fell_back_is_fitted_again():
    rule = ThresholdRule("density_valley", (("fallback", 0.5),))
    one_mode = np.random.default_rng(3).normal(0.5, 0.05, 5_000)
    with shared_densities():
        fitted = rule.fit(_bimodal(1), what="t")
        assert not fitted.used_fallback and rule.fit(_bimodal(1), what="t") is fitted
        fell_back = rule.fit(one_mode, what="t")
        assert fell_back.used_fallback and rule.fit(one_mode, what="t") is not fell_back
