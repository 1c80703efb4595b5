"""Register a reference density onto a target density: a map of gate points.

Two dimensions: an affine step by SimpleITK (correlation metric, regular-step
gradient descent, two resolution levels, one thread so results never depend
on the machine), then a non-rigid step by scikit-image's iterative
Lucas-Kanade or TV-L1 optical flow between the reference image and the affinely
resampled target, smoothed (stiffness) and clipped (maximum displacement).
A point ``p`` of the reference maps to ``A(p + u(p))``.

One dimension: a scale-and-shift search maximising the correlation of the two
densities, then, for each landmark (a bound or divider), a local shift that
best matches the density around it, penalised by the stiffness.

Both work in pixel coordinates of the shared grid (:mod:`.density`); the
callers convert.  Identical images give the identity map exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter, map_coordinates

from ..strategy.follow_settings import METHODS, FollowSettings

__all__ = ["METHODS", "LineMap", "PlaneMap", "correlation", "register_line", "register_plane"]

# Effort of the two-dimensional steps, chosen on the synthetic drift benchmark (docs/follow.md):
# what the default effort (120 iterations to 1e-3 px; 5 warps x 10 TV-L1 iterations) gained over
# these was below sampling noise at four times the cost.
AFFINE_ITERATIONS = 40
AFFINE_MIN_STEP = 0.05  # pixels
# The correlation metric is scored on a quarter of the pixels (a regular grid, fixed seed): the
# affine step cost a third as much and held-out F1 did not change in the fourth decimal.
AFFINE_SAMPLING = 0.25
AFFINE_SAMPLING_SEED = 1
TVL1_WARPS = 1
TVL1_ITERATIONS = 5


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two equally shaped arrays (0 when either is flat)."""
    a = a.ravel() - a.mean()
    b = b.ravel() - b.mean()
    den = float(np.sqrt(np.dot(a, a) * np.dot(b, b)))
    return float(np.dot(a, b) / den) if den > 0 else 0.0


@dataclass(frozen=True)
class PlaneMap:
    """Reference pixel -> target pixel in two dimensions (``x`` = image column)."""

    matrix: np.ndarray  # 2x2, acting on (x, y) about ``center``
    offset: np.ndarray  # A(p) = matrix @ (p - center) + center + offset
    center: np.ndarray
    flow: np.ndarray | None  # (2, rows, cols): (dy, dx) at each reference pixel, before the affine
    limit: float  # largest displacement, pixels

    @property
    def identity(self) -> bool:
        return self.flow is None and np.array_equal(self.matrix, np.eye(2)) and not self.offset.any()

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """``(n, 2)`` reference pixel points (x, y) -> target pixel points."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if self.identity:
            return p.copy()
        q = p
        if self.flow is not None:
            coords = [p[:, 1], p[:, 0]]  # (row, col)
            dy = map_coordinates(self.flow[0], coords, order=1, mode="nearest")
            dx = map_coordinates(self.flow[1], coords, order=1, mode="nearest")
            q = p + np.column_stack([dx, dy])
        return (q - self.center) @ self.matrix.T + self.center + self.offset


@dataclass(frozen=True)
class LineMap:
    """Reference pixel -> target pixel in one dimension: ``scale (x - c) + c + shift``, plus local shifts."""

    scale: float
    shift: float
    center: float

    @property
    def identity(self) -> bool:
        return self.scale == 1.0 and self.shift == 0.0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return x.copy() if self.identity else self.scale * (x - self.center) + self.center + self.shift


def _sitk_affine(reference: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import SimpleITK as sitk

    fixed = sitk.GetImageFromArray(reference.astype(np.float32))
    moving = sitk.GetImageFromArray(target.astype(np.float32))
    center = (np.array(reference.shape[::-1], dtype=np.float64) - 1.0) / 2.0
    transform = sitk.AffineTransform(2)
    transform.SetCenter(center.tolist())
    method = sitk.ImageRegistrationMethod()
    method.SetNumberOfThreads(1)  # a fixed reduction order: the same map on every machine
    method.SetMetricAsCorrelation()
    method.SetMetricSamplingStrategy(method.REGULAR)  # a grid with a seeded jitter: the same pixels every run
    method.SetMetricSamplingPercentage(AFFINE_SAMPLING, AFFINE_SAMPLING_SEED)
    method.SetInterpolator(sitk.sitkLinear)
    # Steps stop at 1/20 of a cell (0.08 % of the axis): finer steps cost time and move no gate
    # visibly; most registrations converge well within the iterations allowed.
    method.SetOptimizerAsRegularStepGradientDescent(learningRate=2.0, minStep=AFFINE_MIN_STEP,
                                                    numberOfIterations=AFFINE_ITERATIONS, relaxationFactor=0.5)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([2, 1])
    method.SetSmoothingSigmasPerLevel([1.0, 0.0])
    method.SetInitialTransform(transform, inPlace=True)
    # the pyramid's filters use the global thread count: one thread, like the metric, then restored
    threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    try:
        method.Execute(fixed, moving)
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    matrix = np.array(transform.GetMatrix(), dtype=np.float64).reshape(2, 2)
    return matrix, np.array(transform.GetTranslation(), dtype=np.float64), center


def _resample(target: np.ndarray, matrix: np.ndarray, offset: np.ndarray, center: np.ndarray) -> np.ndarray:
    """The target seen through the affine map: ``out(p) = target(A(p))`` on the reference grid."""
    rows, cols = np.indices(target.shape, dtype=np.float64)
    p = np.column_stack([cols.ravel(), rows.ravel()])
    q = (p - center) @ matrix.T + center + offset
    return map_coordinates(target, [q[:, 1], q[:, 0]], order=1, mode="constant", cval=0.0).reshape(target.shape)


def _affine_is_sane(matrix: np.ndarray, offset: np.ndarray, limit: float) -> bool:
    """Reject an affine step that stretches, shrinks or shears beyond drift, or moves the centre too far."""
    if not (np.all(np.isfinite(matrix)) and np.all(np.isfinite(offset))):
        return False
    singular = np.linalg.svd(matrix, compute_uv=False)
    return bool(singular.min() > 0.6 and singular.max() < 1.6 and np.abs(offset).max() <= limit)


def register_plane(reference: np.ndarray, target: np.ndarray, settings: FollowSettings) -> PlaneMap:
    """The map of reference pixels onto target pixels for two density images."""
    method = settings.method
    bins = reference.shape[1]
    limit = settings.max_displacement * bins
    eye, zero, center = np.eye(2), np.zeros(2), (np.array(reference.shape[::-1], dtype=np.float64) - 1.0) / 2.0
    if np.array_equal(reference, target):
        return PlaneMap(eye, zero, center, None, limit)
    matrix, offset = eye, zero
    if method != "flow":
        matrix, offset, center = _sitk_affine(reference, target)
        if not _affine_is_sane(matrix, offset, limit):
            matrix, offset = eye, zero
    flow = None
    if method != "affine" and settings.stiffness > 0:
        from skimage.registration import optical_flow_ilk, optical_flow_tvl1

        moved = _resample(target, matrix, offset, center)
        if method == "affine+tvl1":
            raw = optical_flow_tvl1(reference.astype(np.float32), moved.astype(np.float32),
                                    num_warp=TVL1_WARPS, num_iter=TVL1_ITERATIONS)
        else:
            raw = optical_flow_ilk(reference.astype(np.float32), moved.astype(np.float32), radius=5)
        sigma = settings.stiffness * bins
        flow = np.stack([gaussian_filter(np.asarray(c, dtype=np.float64), sigma, mode="nearest") for c in raw])
        np.clip(flow, -limit, limit, out=flow)
    return PlaneMap(matrix, offset, center, flow, limit)


def _warp_line(density: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Linear interpolation of a 1-D density at pixel positions ``x`` (0 off the grid)."""
    return np.interp(x, np.arange(density.size, dtype=np.float64), density, left=0.0, right=0.0)


def _line_scores(reference: np.ndarray, target: np.ndarray, scales: np.ndarray, shifts: np.ndarray,
                 center: float, x: np.ndarray) -> np.ndarray:
    """Correlation of ``reference(x)`` with ``target(s (x - c) + c + t)`` for every (s, t)."""
    ref = reference[x.astype(np.int64)] if np.all(x == np.round(x)) else _warp_line(reference, x)
    ref = ref - ref.mean()
    ref_norm = float(np.sqrt(np.dot(ref, ref)))
    pos = scales[:, None, None] * (x[None, None, :] - center) + center + shifts[None, :, None]
    warped = _warp_line(target, pos.ravel()).reshape(pos.shape)
    warped -= warped.mean(axis=2, keepdims=True)
    norms = np.sqrt(np.einsum("stx,stx->st", warped, warped)) * ref_norm
    dots = np.einsum("stx,x->st", warped, ref)
    return np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)


def register_line(reference: np.ndarray, target: np.ndarray, settings: FollowSettings) -> LineMap:
    """Global scale and shift of reference pixels onto target pixels (coarse, then fine)."""
    bins = reference.size
    center = (bins - 1) / 2.0
    if np.array_equal(reference, target):
        return LineMap(1.0, 0.0, center)
    limit = settings.max_displacement * bins
    x = np.arange(bins, dtype=np.float64)
    scales = np.exp(np.linspace(np.log(0.7), np.log(1.0 / 0.7), 25))
    shifts = np.arange(-limit, limit + 1e-9, 2.0)  # coarse: every second cell, scored on every fourth
    scores = _line_scores(reference, target, scales, shifts, center, x[::4])
    i, j = np.unravel_index(int(np.argmax(scores)), scores.shape)
    fine_s = scales[i] * np.exp(np.linspace(-0.03, 0.03, 9))
    fine_t = shifts[j] + np.linspace(-2.0, 2.0, 21)
    scores = _line_scores(reference, target, fine_s, fine_t, center, x)
    i, j = np.unravel_index(int(np.argmax(scores)), scores.shape)
    return LineMap(float(fine_s[i]), float(fine_t[j]), center)


def refine_landmark(reference: np.ndarray, target: np.ndarray, line: LineMap, landmark: float,
                    settings: FollowSettings) -> tuple[float, float]:
    """Where one reference landmark (pixel) lands on the target, and the local match there (correlation).

    The global map is refined by the shift that best matches the densities in a
    window around the landmark; shifts cost ``(shift / stiffness)^2 / 20`` in
    correlation, so a flat neighbourhood never drags a landmark away.
    """
    bins = reference.size
    half = max(8.0, 0.2 * bins)
    x = np.arange(np.floor(landmark - half), np.ceil(landmark + half) + 1.0)
    x = x[(x >= 0) & (x < bins)]
    base = float(line(np.array([landmark]))[0])
    limit = settings.max_displacement * bins
    if x.size < 4:
        return base, 0.0
    if line.identity and np.array_equal(reference, target):
        return landmark, 1.0
    stiff = settings.stiffness * bins
    room = max(0.0, limit - abs(base - landmark))
    if stiff <= 0 or room <= 0:
        shifts = np.zeros(1)
    else:
        shifts = np.arange(-room, room + 1e-9, 0.5)
    scores = _line_scores(reference, target, np.array([line.scale]), shifts + line.shift, line.center, x)[0]
    penalised = scores - (shifts / stiff) ** 2 / 20.0 if stiff > 0 else scores
    k = int(np.argmax(penalised))
    return base + float(shifts[k]), float(scores[k])
