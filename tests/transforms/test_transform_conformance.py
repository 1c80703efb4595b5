"""Every registered transform honours the shared contract (cytogate.transforms.base)."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from cytogate.errors import TransformError
from cytogate.transforms import REGISTRY, Transform, from_params

# One valid parameter set per kind, and a range of display values to test the inverse on.
EXAMPLES: dict[str, dict[str, float]] = {
    "flin": {"t": 10000.0, "a": 500.0},
    "flog": {"t": 10000.0, "m": 5.0},
    "fasinh": {"t": 10000.0, "m": 4.0, "a": 1.0},
    "logicle": {"t": 262144.0, "w": 0.5, "m": 4.5, "a": 0.0},
    "hyperlog": {"t": 10000.0, "w": 1.0, "m": 4.5, "a": 0.0},
    "flowjo_biex": {"width": -10.0, "negative": 0.0, "positive": 4.41854, "max_value": 262144.0},
    "flowjo_log": {"offset": 1.0, "decades": 4.5},
}
# Parameters that must be rejected, per kind.
INVALID: dict[str, list[dict[str, float]]] = {
    "flin": [{"t": 0.0, "a": 0.0}, {"t": 10.0, "a": -1.0}, {"t": 10.0, "a": 11.0}, {"t": math.nan, "a": 0.0}],
    "flog": [{"t": -1.0, "m": 2.0}, {"t": 10.0, "m": 0.0}, {"t": math.inf, "m": 2.0}],
    "fasinh": [{"t": 10.0, "m": 0.0, "a": 0.0}, {"t": 10.0, "m": 2.0, "a": -0.1}, {"t": 10.0, "m": 2.0, "a": 3.0}],
    "logicle": [
        {"t": 0.0, "w": 0.5, "m": 4.5, "a": 0.0},
        {"t": 1e4, "w": 3.0, "m": 4.5, "a": 0.0},
        {"t": 1e4, "w": 0.5, "m": 4.5, "a": -1.0},
        {"t": 1e4, "w": 0.5, "m": 4.5, "a": 4.0},
        {"t": 1e4, "w": -0.1, "m": 4.5, "a": 0.0},
    ],
    "hyperlog": [{"t": 1e4, "w": 0.0, "m": 4.5, "a": 0.0}, {"t": 1e4, "w": 1.0, "m": 0.0, "a": 0.0}],
    "flowjo_biex": [
        {"width": -0.5, "negative": 0.0, "positive": 4.5, "max_value": 262144.0},
        {"width": -10.0, "negative": -1.0, "positive": 4.5, "max_value": 262144.0},
        {"width": -10.0, "negative": 0.0, "positive": 4.5, "max_value": 0.0},
        {"width": -10.0, "negative": 0.0, "positive": 4.5, "max_value": 262144.0, "channel_range": 100.5},
    ],
    "flowjo_log": [{"offset": 0.0, "decades": 4.5}, {"offset": 1.0, "decades": -1.0}],
}
KINDS = sorted(EXAMPLES)


def make(kind: str) -> Transform:
    return from_params(kind, **EXAMPLES[kind])


def domain(kind: str) -> np.ndarray:
    """Scale values across the transform's domain: negatives, zero, tiny, huge."""
    rng = np.random.default_rng(7)
    positive = np.concatenate([10.0 ** rng.uniform(-8, 7, 3000), [1e-300, 1.0, 262144.0, 1e9]])
    if kind in ("flog", "flowjo_log"):
        return positive
    return np.concatenate([positive, -positive, [0.0], rng.normal(0, 300, 3000)])


def test_registry_lists_every_kind() -> None:
    assert set(REGISTRY) == set(KINDS)
    for kind, cls in REGISTRY.items():
        assert cls.kind == kind
        assert issubclass(cls, Transform)


def test_unknown_kind_and_parameter_raise() -> None:
    with pytest.raises(TransformError, match="unknown transform kind 'nope'"):
        from_params("nope", t=1.0)
    with pytest.raises(TransformError, match="unknown parameter 'q'"):
        from_params("logicle", t=1e4, q=1.0)


@pytest.mark.parametrize("kind", KINDS)
def test_invalid_parameters_raise(kind: str) -> None:
    for params in INVALID[kind]:
        with pytest.raises(TransformError, match=kind):
            from_params(kind, **params)


@pytest.mark.parametrize("kind", KINDS)
def test_params_round_trip_and_case_insensitive(kind: str) -> None:
    t = make(kind)
    assert from_params(kind, **t.params()) == t
    upper = {k.upper(): v for k, v in EXAMPLES[kind].items()}
    assert from_params(kind, **upper) == t
    assert all(isinstance(v, float) for v in t.params().values())
    with pytest.raises(AttributeError):  # FrozenInstanceError
        t.t = 5.0  # type: ignore[misc,attr-defined]  # frozen


@pytest.mark.parametrize("kind", KINDS)
def test_pickle_round_trip(kind: str) -> None:
    t = make(kind)
    x = domain(kind)
    y = t.apply(x)  # builds any lazy table, which must not be pickled
    blob = pickle.dumps(t)
    assert len(blob) < 1000
    again = pickle.loads(blob)
    assert again == t
    np.testing.assert_array_equal(again.apply(x), y)


@pytest.mark.parametrize("kind", KINDS)
def test_shape_dtype_and_nan(kind: str) -> None:
    t = make(kind)
    x = domain(kind)[:600].reshape(20, 30)
    x[3, 4] = np.nan
    y = t.apply(x)
    assert y.shape == x.shape and y.dtype == np.float64
    assert np.isnan(y[3, 4]) and np.isfinite(np.delete(y.ravel(), 3 * 30 + 4)).all()
    assert np.isnan(t.inverse(np.array([np.nan]))).all()
    assert t.apply(np.empty(0)).shape == (0,)
    scalar = t.apply(100.0)
    assert scalar.shape == () and scalar == t.apply(np.array([100.0]))[0]
    np.testing.assert_array_equal(t(x), y)
    # non-contiguous input, integer input
    np.testing.assert_array_equal(t.apply(x.T), y.T)
    np.testing.assert_array_equal(t.apply(np.array([1, 10, 100])), t.apply(np.array([1.0, 10.0, 100.0])))


@pytest.mark.parametrize("kind", KINDS)
def test_monotone_non_decreasing(kind: str) -> None:
    t = make(kind)
    x = np.sort(domain(kind))
    y = t.apply(x)
    assert np.all(np.diff(y) >= 0)


@pytest.mark.parametrize("kind", KINDS)
def test_inverse_round_trip(kind: str) -> None:
    t = make(kind)
    x = domain(kind)
    if kind == "flowjo_log":
        x = x[x >= 1.0]  # values below the offset are clamped and cannot come back
    x = x[np.abs(x) < 1e8]
    back = t.inverse(t.apply(x))
    # y carries ~1e-16 absolute, so the recoverable precision of x near zero is the slope there
    tol = 1e-9 * (np.abs(x) + 1.0)
    assert np.all(np.abs(back - x) <= tol), np.max(np.abs(back - x) / (np.abs(x) + 1.0))
    y = np.linspace(0.0, 1.0, 101)
    np.testing.assert_allclose(t.apply(t.inverse(y)), y, rtol=0, atol=1e-9)


@pytest.mark.parametrize("kind", KINDS)
def test_float32_input_matches_float64(kind: str) -> None:
    t = make(kind)
    x32 = domain(kind).astype(np.float32)
    np.testing.assert_allclose(t.apply(x32), t.apply(x32.astype(np.float64)), rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_apply_into(kind: str) -> None:
    t = make(kind)
    x = domain(kind)
    expected = t.apply(x)
    out = np.empty_like(x)
    assert t.apply_into(x, out) is out
    np.testing.assert_array_equal(out, expected)
    inplace = x.copy()
    t.apply_into(inplace, inplace)
    np.testing.assert_array_equal(inplace, expected)
    with pytest.raises(TransformError, match="shape"):
        t.apply_into(x, np.empty(x.size + 1))
    with pytest.raises(TransformError, match="float64"):
        t.apply_into(x, np.empty(x.size, dtype=np.float32))


@pytest.mark.parametrize("kind", KINDS)
def test_large_arrays_use_the_same_numbers(kind: str) -> None:
    """Above the parallel threshold the threaded kernels give the same values as the serial ones."""
    t = make(kind)
    small = domain(kind)
    big = np.tile(small, 40_000 // small.size + 1)
    np.testing.assert_array_equal(t.apply(big)[: small.size], t.apply(small))
    y = t.apply(small)
    np.testing.assert_array_equal(t.inverse(np.tile(y, 40_000 // y.size + 1))[: y.size], t.inverse(y))


@pytest.mark.parametrize("kind", ["flin", "flog", "fasinh", "logicle", "hyperlog"])
def test_gating_ml_top_of_scale_maps_to_one(kind: str) -> None:
    t = make(kind)
    assert t.apply(EXAMPLES[kind]["t"]) == pytest.approx(1.0, abs=1e-10)
    assert t.inverse(1.0) == pytest.approx(EXAMPLES[kind]["t"], rel=1e-12)


@pytest.mark.parametrize("kind", ["flin", "fasinh", "logicle", "hyperlog", "flowjo_biex"])
def test_infinities_map_to_infinities(kind: str) -> None:
    y = make(kind).apply(np.array([np.inf, -np.inf]))
    assert y[0] == np.inf and y[1] == -np.inf
