"""Gate kernels: each docstring statement pinned, and each kernel against a slow reference."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.path import Path as MplPath

from cytogate.gates import kernels

INF = np.inf
NAN = np.nan


# -- rectangle ---------------------------------------------------------------------------
def test_rectangle_min_inside_max_outside():
    values = np.array([[1.0, 2.0, 1.5, 0.999999, 2.000001]])
    got = kernels.rectangle_mask(values, np.array([1.0]), np.array([2.0]))
    assert got.tolist() == [True, False, True, False, False]


def test_rectangle_open_bounds_admit_infinities_and_nan_is_outside():
    values = np.array([[-INF, INF, 0.0, NAN]])
    assert kernels.rectangle_mask(values, np.array([-INF]), np.array([1.0])).tolist() == [True, False, True, False]
    assert kernels.rectangle_mask(values, np.array([0.0]), np.array([INF])).tolist() == [False, True, True, False]


def test_rectangle_nan_in_any_dimension_is_outside():
    values = np.array([[0.5, 0.5], [NAN, 0.5]])
    lo, hi = np.array([0.0, 0.0]), np.array([1.0, 1.0])
    assert kernels.rectangle_mask(values, lo, hi).tolist() == [False, True]


def _rect_reference(values, lo, hi):
    inside = np.ones(values.shape[1], dtype=bool)
    for k in range(values.shape[0]):
        v = values[k]
        upper = (v < hi[k]) | ((hi[k] == INF) & (v == INF))
        inside &= (v >= lo[k]) & upper
    return inside


@pytest.mark.parametrize("seed", range(5))
def test_rectangle_matches_reference(seed):
    rng = np.random.default_rng(seed)
    d = int(rng.integers(1, 5))
    values = rng.integers(-5, 6, size=(d, 3000)).astype(float)  # integers hit the bounds often
    values[rng.random(values.shape) < 0.02] = NAN
    values[rng.random(values.shape) < 0.01] = INF
    lo = rng.integers(-4, 1, size=d).astype(float)
    hi = lo + rng.integers(1, 5, size=d)
    lo[rng.random(d) < 0.3] = -INF
    hi[rng.random(d) < 0.3] = INF
    assert np.array_equal(kernels.rectangle_mask(values, lo, hi), _rect_reference(values, lo, hi))


# -- banded interval -----------------------------------------------------------------------
def test_interval_banded_reports_events_near_bounds():
    x = np.array([0.0, 0.96, 1.0, 1.04, 1.5, 2.0, 2.04, NAN])
    mask, undecided = kernels.interval_mask_banded(x, 1.0, 2.0, 0.05, 0.05)
    assert mask.tolist() == [False, False, True, True, True, False, False, False]
    assert undecided.tolist() == [1, 2, 3, 5, 6]


def test_interval_negative_tolerance_means_no_band():
    x = np.array([1.0, 2.0])
    mask, undecided = kernels.interval_mask_banded(x, 1.0, 2.0, -1.0, -1.0)
    assert mask.tolist() == [True, False] and undecided.size == 0


@pytest.mark.parametrize("seed", range(3))
def test_interval_matches_rectangle(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 4, 2000).astype(float)
    x[::17] = NAN
    for lo, hi in [(-1.0, 2.0), (-INF, 0.0), (1.0, INF)]:
        mask, _ = kernels.interval_mask_banded(x, lo, hi, -1.0, -1.0)
        assert np.array_equal(mask, kernels.rectangle_mask(x[None, :], np.array([lo]), np.array([hi])))


# -- polygon -------------------------------------------------------------------------------
SQUARE_X = np.array([0.0, 10.0, 10.0, 0.0])
SQUARE_Y = np.array([0.0, 0.0, 10.0, 10.0])


def test_polygon_boundaries_left_bottom_inside_right_top_outside():
    x = np.array([0.0, 5.0, 10.0, 5.0, 5.0, 0.0, 10.0])
    y = np.array([5.0, 0.0, 5.0, 10.0, 5.0, 0.0, 10.0])
    got = kernels.polygon_mask(x, y, SQUARE_X, SQUARE_Y)
    assert got.tolist() == [True, True, False, False, True, True, False]


def test_polygon_nan_is_outside():
    got = kernels.polygon_mask(np.array([NAN, 5.0, 5.0]), np.array([5.0, NAN, 5.0]), SQUARE_X, SQUARE_Y)
    assert got.tolist() == [False, False, True]


def test_polygon_even_odd_rule_for_self_intersecting_polygon():
    # A pentagram: its centre is covered twice, so even-odd puts it outside; a tip is inside.
    angles = np.pi / 2 + np.arange(5) * 4 * np.pi / 5
    vx, vy = np.cos(angles), np.sin(angles)
    got = kernels.polygon_mask(np.array([0.0, 0.0]), np.array([0.0, 0.8]), vx, vy)
    assert got.tolist() == [False, True]


def _polygon_reference(x, y, vx, vy):
    """The bare crossing rule (no bounding box)."""
    inside = np.zeros(x.shape, dtype=bool)
    for k in range(len(vx)):
        j = k - 1
        crosses = (vy[k] > y) != (vy[j] > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            xc = vx[k] + (y - vy[k]) * (vx[j] - vx[k]) / (vy[j] - vy[k])
        inside ^= crosses & (x < xc)
    return inside


def _polygon_boxed_reference(x, y, vx, vy):
    """The kernels' rule: the crossing rule, within the bounding box."""
    box = (x >= vx.min()) & (x <= vx.max()) & (y >= vy.min()) & (y <= vy.max())
    return _polygon_reference(x, y, vx, vy) & box


@pytest.mark.parametrize("seed", range(6))
def test_polygon_matches_reference_and_matplotlib(seed):
    rng = np.random.default_rng(seed)
    nv = int(rng.integers(3, 12))
    vx, vy = rng.uniform(-1, 1, nv), rng.uniform(-1, 1, nv)  # usually self-intersecting
    x, y = rng.uniform(-1.2, 1.2, 4000), rng.uniform(-1.2, 1.2, 4000)
    got = kernels.polygon_mask(x, y, vx, vy)
    assert np.array_equal(got, _polygon_boxed_reference(x, y, vx, vy))
    # matplotlib's crossing test is also even-odd; random points are never on an edge
    path = MplPath(np.column_stack([vx, vy]))
    assert np.array_equal(got, path.contains_points(np.column_stack([x, y])))


def test_polygon_on_grid_matches_reference():
    # integer vertices and integer events: many events lie exactly on edges and vertices
    vx = np.array([0.0, 6.0, 6.0, 2.0, 2.0, 4.0, 4.0, 0.0])
    vy = np.array([0.0, 0.0, 6.0, 6.0, 2.0, 2.0, 4.0, 4.0])
    gx, gy = np.meshgrid(np.arange(-1.0, 8.0, 0.5), np.arange(-1.0, 8.0, 0.5))
    x, y = gx.ravel(), gy.ravel()
    assert np.array_equal(kernels.polygon_mask(x, y, vx, vy), _polygon_boxed_reference(x, y, vx, vy))


# -- ellipsoid -----------------------------------------------------------------------------
def test_ellipsoid_boundary_inside_and_nan_outside():
    mean = np.array([0.0, 0.0])
    inv = np.linalg.inv(np.array([[4.0, 0.0], [0.0, 1.0]]))
    values = np.array([[2.0, 0.0, 2.0000001, NAN, 0.0], [0.0, 1.0, 0.0, 0.0, NAN]])
    got = kernels.ellipsoid_mask(values, mean, inv, 1.0)
    assert got.tolist() == [True, True, False, False, False]


@pytest.mark.parametrize("dims", [2, 3, 5])
def test_ellipsoid_matches_reference(dims):
    rng = np.random.default_rng(dims)
    a = rng.normal(size=(dims, dims))
    cov = a @ a.T + dims * np.eye(dims)
    inv = np.linalg.inv(cov)
    mean = rng.normal(size=dims)
    values = rng.normal(scale=3, size=(dims, 5000))
    values[0, ::50] = NAN
    diff = values - mean[:, None]
    d2 = np.einsum("in,ij,jn->n", diff, inv, diff)
    expected = d2 <= 2.5
    assert np.array_equal(kernels.ellipsoid_mask(values, mean, inv, 2.5), expected)


# -- gathers (compensation) ------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gather_weighted_matches_numpy(dtype):
    rng = np.random.default_rng(11)
    matrix = rng.normal(size=(500, 7)).astype(dtype)
    matrix[3, 2] = NAN
    rows = np.sort(rng.choice(500, 200, replace=False)).astype(np.int64)
    cols = np.array([2, 5, 0], dtype=np.int64)
    w = np.array([1.0, -0.25, 0.125])
    expected = matrix.astype(np.float64)[:, cols] @ w
    np.testing.assert_allclose(kernels.gather_weighted(matrix, rows, cols, w), expected[rows], rtol=1e-14)
    every = kernels.gather_weighted(matrix, np.empty(0, np.int64), cols, w)
    np.testing.assert_allclose(every, expected, rtol=1e-14)
    assert np.isnan(every[3])
    many = kernels.gather_weighted_many(matrix, rows, cols, np.vstack([w, [0.0, 1.0, 0.0]]))
    assert np.array_equal(many[0], kernels.gather_weighted(matrix, rows, cols, w))
    assert np.array_equal(many[1], matrix[rows, 5].astype(np.float64))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_polygon_rows_equals_polygon_on_gathered_columns(dtype):
    rng = np.random.default_rng(5)
    matrix = rng.integers(-2, 9, size=(3000, 4)).astype(dtype)  # many events on edges and vertices
    matrix[::37, 1] = NAN
    vx = np.array([0.0, 6.0, 6.0, 2.0, 2.0, 4.0, 4.0, 0.0])
    vy = np.array([0.0, 0.0, 6.0, 6.0, 2.0, 2.0, 4.0, 4.0])
    x, y = matrix[:, 1].astype(np.float64), matrix[:, 3].astype(np.float64)
    full = kernels.polygon_mask(x, y, vx, vy)
    assert np.array_equal(kernels.polygon_mask_rows(matrix, np.empty(0, np.int64), 1, 3, vx, vy), full)
    rows = np.sort(rng.choice(3000, 700, replace=False)).astype(np.int64)
    assert np.array_equal(kernels.polygon_mask_rows(matrix, rows, 1, 3, vx, vy), full[rows])


def test_polygon_infinite_coordinates_are_outside():
    vx = np.array([0.0, 4.0, 4.0, 0.0])
    vy = np.array([0.0, 0.0, 4.0, 4.0])
    x = np.array([-INF, INF, 2.0, 2.0, -INF, 2.0])
    y = np.array([2.0, 2.0, -INF, INF, NAN, 2.0])
    assert kernels.polygon_mask(x, y, vx, vy).tolist() == [False, False, False, False, False, True]
    matrix = np.column_stack([x, y])
    assert kernels.polygon_mask_rows(matrix, np.empty(0, np.int64), 0, 1, vx, vy).tolist() == \
        [False, False, False, False, False, True]


@pytest.mark.parametrize("n", [4097, 5000])
def test_polygon_chunks_cover_every_event(n):
    # more events than one chunk of the kernel, the last chunk partial, rows in any order
    rng = np.random.default_rng(n)
    vx, vy = rng.uniform(-1, 1, 9), rng.uniform(-1, 1, 9)
    matrix = rng.uniform(-1.2, 1.2, size=(n, 2))
    expected = _polygon_boxed_reference(matrix[:, 0], matrix[:, 1], vx, vy)
    assert np.array_equal(kernels.polygon_mask(matrix[:, 0].copy(), matrix[:, 1].copy(), vx, vy), expected)
    rows = rng.permutation(n)[: n - 3].astype(np.int64)
    assert np.array_equal(kernels.polygon_mask_rows(matrix, rows, 0, 1, vx, vy), expected[rows])


def _gather_reference(matrix, rows, cols, weights):
    """One row at a time, terms added in column order: the bits every read path must give."""
    out = []
    for r in rows:
        acc = 0.0
        for c, w in zip(cols, weights):
            acc += float(w) * float(matrix[r, c])
        out.append(acc)
    return np.array(out, dtype=np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m", [1, 3, 4, 203])
def test_gather_weighted_sums_each_row_in_column_order(dtype, m):
    # rows of very different magnitudes, so any reordering of the sums changes bits
    rng = np.random.default_rng(m)
    matrix = (rng.normal(size=(300, 9)) * 10.0 ** rng.integers(-6, 7, size=(300, 9))).astype(dtype)
    matrix[7, 4], matrix[11, 0] = NAN, INF
    rows = rng.choice(300, m, replace=False).astype(np.int64)  # unsorted
    cols = np.array([4, 0, 8, 3, 1], dtype=np.int64)
    weights = rng.normal(size=5) * 10.0 ** rng.integers(-3, 4, size=5)
    got = kernels.gather_weighted(matrix, rows, cols, weights)
    np.testing.assert_array_equal(got, _gather_reference(matrix, rows, cols, weights))
    every = kernels.gather_weighted(matrix[:m], np.empty(0, np.int64), cols, weights)
    np.testing.assert_array_equal(every, _gather_reference(matrix, range(m), cols, weights))


def test_select_subset_gives_kept_indices_and_the_full_mask():
    rows = np.array([2, 5, 6, 9], dtype=np.int64)
    inside = np.array([True, False, True, True])
    full = np.ones(11, dtype=bool)  # overwritten, not or-ed
    kept = kernels.select_subset(rows, inside, full)
    assert kept.tolist() == [2, 6, 9] and kept.dtype == np.int64
    assert np.flatnonzero(full).tolist() == [2, 6, 9]
    assert kernels.select_subset(rows, np.zeros(4, dtype=bool), full).size == 0 and not full.any()


def test_polygon_point_just_beyond_the_extreme_vertex_is_outside():
    # the crossing abscissa of the edge ending at the rightmost vertex rounds a few ulps past it
    xk, yk, xj, yj = -0.8568972235442058, 0.754848157892974, 0.023383418400413136, -0.6810645384843379
    y = -0.6810645384843378
    vx, vy = np.array([xj, xk, -0.9]), np.array([yj, yk, -0.5])
    px = np.nextafter(xj, 1.0)
    assert px > vx.max() and px < xk + (y - yk) * (xj - xk) / (yj - yk)
    assert kernels.polygon_mask(np.array([px]), np.array([y]), vx, vy).tolist() == [False]
    assert kernels.polygon_mask_rows(np.array([[px, y]]), np.empty(0, np.int64), 0, 1, vx, vy).tolist() == [False]
    assert _polygon_reference(np.array([px]), np.array([y]), vx, vy).tolist() == [True]  # the bare crossing rule
