"""Element-wise numba loops for the closed-form transforms (flin, flog, fasinh, FlowJo log).

The loops are serial: they are bound by memory bandwidth, so threads gain
little, and serial kernels never start numba's threading runtime (which
cannot survive ``fork``).  NaN propagates through the arithmetic, and no loop
raises or warns on out-of-domain values.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["affine_into", "log_into", "exp10_into", "asinh_into", "sinh_into", "clamped_log_into"]


@numba.njit(cache=True)
def _affine_loop(x, out, shift, divisor, scale, post):
    for i in range(x.shape[0]):
        out[i] = (np.float64(x[i]) + shift) / divisor * scale + post


@numba.njit(cache=True)
def _log_loop(x, out, scale, shift):
    # y = scale*log10(x) + shift; x < 0 -> NaN, x == 0 -> -inf (math.log10 would raise)
    for i in range(x.shape[0]):
        v = np.float64(x[i])
        if v > 0.0:
            out[i] = scale * math.log10(v) + shift
        elif v == 0.0:
            out[i] = -math.inf
        else:
            out[i] = math.nan


@numba.njit(cache=True)
def _clamped_log_loop(x, out, floor, scale, shift):
    # y = scale*log10(max(x, floor)) + shift, NaN stays NaN
    for i in range(x.shape[0]):
        v = np.float64(x[i])
        if v < floor:
            v = floor
        out[i] = scale * math.log10(v) + shift if v == v else math.nan


@numba.njit(cache=True)
def _exp10_loop(y, out, scale, shift, factor):
    # x = factor * 10**(scale*y + shift)
    for i in range(y.shape[0]):
        out[i] = factor * 10.0 ** (scale * np.float64(y[i]) + shift)


@numba.njit(cache=True)
def _asinh_loop(x, out, k, shift, scale):
    # y = (asinh(k*x) + shift) * scale
    for i in range(x.shape[0]):
        out[i] = (math.asinh(k * np.float64(x[i])) + shift) * scale


@numba.njit(cache=True)
def _sinh_loop(y, out, k, shift, scale):
    # x = sinh(y*scale - shift) / k
    for i in range(y.shape[0]):
        out[i] = math.sinh(np.float64(y[i]) * scale - shift) / k


def affine_into(
    x: np.ndarray, out: np.ndarray, *, shift: float = 0.0, divisor: float = 1.0, scale: float = 1.0, post: float = 0.0
) -> None:
    """``out = (x + shift) / divisor * scale + post`` (each step exact where the formula is)."""
    _affine_loop(x, out, shift, divisor, scale, post)


def log_into(x: np.ndarray, out: np.ndarray, scale: float, shift: float) -> None:
    """``out = scale*log10(x) + shift``; NaN for ``x < 0``, ``-inf`` for 0."""
    _log_loop(x, out, scale, shift)


def clamped_log_into(x: np.ndarray, out: np.ndarray, floor: float, scale: float, shift: float) -> None:
    """``out = scale*log10(max(x, floor)) + shift`` (``floor > 0``)."""
    _clamped_log_loop(x, out, floor, scale, shift)


def exp10_into(y: np.ndarray, out: np.ndarray, scale: float, shift: float, factor: float) -> None:
    """``out = factor * 10**(scale*y + shift)``."""
    _exp10_loop(y, out, scale, shift, factor)


def asinh_into(x: np.ndarray, out: np.ndarray, k: float, shift: float, scale: float) -> None:
    """``out = (asinh(k*x) + shift) * scale``."""
    _asinh_loop(x, out, k, shift, scale)


def sinh_into(y: np.ndarray, out: np.ndarray, k: float, shift: float, scale: float) -> None:
    """``out = sinh(y*scale - shift) / k``."""
    _sinh_loop(y, out, k, shift, scale)
