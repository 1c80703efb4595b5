"""Compensation: match a spillover matrix to a sample's channels and unmix columns.

Compensated events are ``raw[:, idx] @ inv(S)`` where ``idx`` are the sample's
columns of the matrix's detectors (FCS ``$SPILLOVER`` convention: row i of S is
the spill of detector i into every detector).  The inverse is computed once per
matrix (:attr:`Spillover.inverse`), never per call, and each compensated
column ``j`` is the weighted sum ``sum_i raw_i * inv(S)[i, j]`` over the
detectors with a non-zero weight (one fused numba pass for all requested
outputs), so asking for a few columns costs only those columns; channels
outside the matrix pass through unchanged.

:class:`Compensator` is the entry point for the engine: build it once per
(matrix, channel layout), then ask it for just the columns the gates read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numba
import numpy as np

from ..channels import ChannelResolver
from ..errors import CompensationError, MarkerError
from ..threads import use_parallel
from .matrix import Spillover

__all__ = ["Compensator", "WeightedSums", "compensate", "match_channels", "spillover_from_array", "weighted_sums"]


_CHUNK = 2048  # events per block: the needed rows of a block stay in L1/L2 while every output is formed


@numba.njit(cache=True, inline="always")
def _columns_chunk(block, counts, rows, weights, out, lo, hi):
    for q in range(out.shape[0]):
        for i in range(lo, hi):
            out[q, i] = 0.0
        for j in range(counts[q]):
            w = weights[q, j]
            r = rows[q, j]
            for i in range(lo, hi):
                out[q, i] += w * block[r, i]


@numba.njit(cache=True, inline="always")
def _rows_chunk(events, needed, counts, rows, weights, out, lo, hi):
    # each block of rows is transposed once into a small buffer, so every needed value is read once
    k = needed.shape[0]
    buf = np.empty((k, hi - lo))
    for i in range(lo, hi):
        for r in range(k):
            buf[r, i - lo] = events[i, needed[r]]
    for q in range(out.shape[0]):
        for i in range(lo, hi):
            out[q, i] = 0.0
        for j in range(counts[q]):
            w = weights[q, j]
            r = rows[q, j]
            for i in range(lo, hi):
                out[q, i] += w * buf[r, i - lo]


@numba.njit(cache=True, parallel=True)
def _columns_threaded(block, counts, rows, weights, out):
    n = block.shape[1]
    for c in numba.prange((n + _CHUNK - 1) // _CHUNK):
        _columns_chunk(block, counts, rows, weights, out, c * _CHUNK, min(c * _CHUNK + _CHUNK, n))


@numba.njit(cache=True)
def _columns_serial(block, counts, rows, weights, out):
    n = block.shape[1]
    for c in range((n + _CHUNK - 1) // _CHUNK):
        _columns_chunk(block, counts, rows, weights, out, c * _CHUNK, min(c * _CHUNK + _CHUNK, n))


@numba.njit(cache=True, parallel=True)
def _rows_threaded(events, needed, counts, rows, weights, out):
    n = events.shape[0]
    for c in numba.prange((n + _CHUNK - 1) // _CHUNK):
        _rows_chunk(events, needed, counts, rows, weights, out, c * _CHUNK, min(c * _CHUNK + _CHUNK, n))


_SERIAL_CHUNK = 512  # events per block of the serial kernel: its buffers stay in L1 and are reused


@numba.njit(cache=True)
def _rows_serial(events, needed, counts, rows, weights, out):
    # as _rows_chunk, with one transposed buffer and one accumulator row for the whole call (about
    # twice as fast): the same products summed in the same order from 0.0, so the same values
    n = events.shape[0]
    k = needed.shape[0]
    buf = np.empty((k, _SERIAL_CHUNK))
    acc = np.empty(_SERIAL_CHUNK)
    for lo in range(0, n, _SERIAL_CHUNK):
        m = min(n - lo, _SERIAL_CHUNK)
        chunk = events[lo:lo + m]  # views indexed from 0: no negative-index wrap-around per access (a quarter faster)
        for r in range(k):  # column by column: a strided read per column is 3x faster than row by row
            column = needed[r]
            line = buf[r]
            for i in range(m):
                line[i] = chunk[i, column]
        for q in range(out.shape[0]):
            acc[:m] = 0.0
            for j in range(counts[q]):
                w = weights[q, j]
                src = buf[rows[q, j]]
                for i in range(m):
                    acc[i] += w * src[i]
            target = out[q, lo:lo + m]
            for i in range(m):
                target[i] = acc[i]


def _unmix_columns(block, counts, rows, weights, out):
    """``out[q] = sum_j weights[q, j] * block[rows[q, j]]`` for ``j < counts[q]``.

    ``block`` is (n_needed, n_events), one raw column per row; only non-zero
    weights are listed, so a NaN in a detector that does not feed an output
    does not reach it, while a NaN that does feed it gives NaN.
    """
    kernel = _columns_threaded if use_parallel(block.shape[1]) else _columns_serial
    kernel(block, counts, rows, weights, out)


def _unmix_rows(events, needed, counts, rows, weights, out):
    """As :func:`_unmix_columns` with the raw columns ``events[:, needed]`` of a row-major matrix."""
    kernel = _rows_threaded if use_parallel(events.shape[0]) else _rows_serial
    kernel(events, needed, counts, rows, weights, out)


def _sparse_weights(dense: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(counts, rows, weights) listing the non-zero entries of each row of ``dense`` (m, k)."""
    m, k = dense.shape
    counts = np.zeros(m, dtype=np.int64)
    rows = np.zeros((m, max(k, 1)), dtype=np.int64)
    weights = np.zeros((m, max(k, 1)))
    for q in range(m):
        nz = np.flatnonzero(dense[q])
        counts[q] = nz.size
        rows[q, : nz.size] = nz
        weights[q, : nz.size] = dense[q, nz]
    return counts, rows, weights


def spillover_from_array(matrix: Any, channels: Sequence[str], *, source: str = "array") -> Spillover:
    """A :class:`Spillover` from a square array and its detector names.

    Parameters
    ----------
    matrix : (n, n) array-like of float
        Row i is the spill of detector i into every detector.
    channels : sequence of str, length n
    source : str
        Provenance, kept in ``Spillover.source``.

    Raises
    ------
    CompensationError
        Not square, names not matching the size, duplicate names, non-finite values.
    """
    try:
        array = np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError):
        raise CompensationError(f"spillover matrix from {source} is not numeric") from None
    return Spillover(array, tuple(str(c) for c in channels), source)


def match_channels(spillover: Spillover, channels: Sequence[str]) -> tuple[int, ...]:
    """Indices into ``channels`` of each of the spillover matrix's detectors, in matrix order.

    Detectors are resolved by :class:`cytogate.channels.ChannelResolver` on
    ``$PnN`` only: the same name, else the same after removing FlowJo's
    ``Comp-``/``<...>`` decorations, else that ignoring case, when unique.

    Parameters
    ----------
    spillover : Spillover
    channels : sequence of str
        The sample's channel names (``$PnN``) in column order.

    Returns
    -------
    tuple of int, length ``len(spillover.channels)``

    Raises
    ------
    CompensationError
        Naming every detector that no channel (or more than one) matches.
    """
    names = [str(c) for c in channels]
    resolver = ChannelResolver(names)  # detectors are $PnN names: markers never match them
    found: list[int] = []
    missing: list[str] = []
    ambiguous: list[str] = []
    for detector in spillover.detectors:
        try:
            hit = resolver.find(detector)
        except MarkerError as exc:
            ambiguous.append(exc.message)
            continue
        if hit is None:
            missing.append(detector)
        else:
            found.append(hit)
    if missing or ambiguous:
        parts = []
        if missing:
            parts.append(f"names channels the sample lacks: {', '.join(missing)}")
        if ambiguous:
            parts.append(f"is ambiguous: {'; '.join(ambiguous)}")
        raise CompensationError(
            f"spillover matrix from {getattr(spillover, 'source', '') or 'input'} {' and '.join(parts)} "
            f"(sample channels: {', '.join(names)})"
        )
    if len(set(found)) != len(found):
        raise CompensationError(
            f"spillover matrix from {spillover.source or 'input'} maps two detectors to one channel"
        )
    return tuple(found)


class Compensator:
    """Compensation of one matrix for one channel layout; computes only the columns asked for.

    Parameters
    ----------
    spillover : Spillover
    channels : sequence of str
        The sample's channel names (``$PnN``) in column order.

    Raises
    ------
    CompensationError
        A detector of the matrix is missing from ``channels``, or the matrix is singular.
    """

    def __init__(self, spillover: Spillover, channels: Sequence[str]) -> None:
        self.spillover = spillover
        self.channels: tuple[str, ...] = tuple(str(c) for c in channels)
        self.indices = match_channels(spillover, self.channels)
        self.unmixing = spillover.inverse  # (n_det, n_det), computed once per matrix
        self._position = {c: k for k, c in enumerate(self.indices)}  # sample column -> matrix position

    def weights(self, channel: str | int) -> tuple[tuple[int, ...], np.ndarray] | None:
        """Sample column indices and weights whose sum is the compensated ``channel``.

        Returns None for a channel outside the matrix (it is not changed by compensation).
        """
        index = self._column_index(channel)
        k = self._position.get(index)
        if k is None:
            return None
        w = self.unmixing[:, k]
        keep = np.flatnonzero(w != 0.0)
        return tuple(self.indices[i] for i in keep), np.ascontiguousarray(w[keep])

    def columns(
        self, get_column: Callable[[int], np.ndarray], wanted: Sequence[str | int]
    ) -> dict[str | int, np.ndarray]:
        """Compensated values of the ``wanted`` channels.

        Parameters
        ----------
        get_column : callable(int) -> (n_events,) array
            Raw (scale) values of one sample column; called at most once per column.
        wanted : sequence of str or int
            Channel names (or sample column indices) to return.

        Returns
        -------
        dict mapping each wanted key to a (n_events,) float64 array.  Channels
        outside the matrix are returned as given by ``get_column`` (not copied).
        """
        plans: dict[str | int, tuple[tuple[int, ...], np.ndarray] | None] = {}
        for key in wanted:
            plans[key] = self.weights(key)
        needed = sorted({i for plan in plans.values() if plan is not None for i in plan[0]})
        raw: dict[int, np.ndarray] = {}
        result: dict[str | int, np.ndarray] = {}
        if needed:
            first = np.asarray(get_column(needed[0]))
            block = np.empty((len(needed), first.shape[0]), dtype=np.float64)  # one row per raw column
            block[0] = first
            for r, i in enumerate(needed[1:], start=1):
                column = np.asarray(get_column(i))
                if column.shape != first.shape:
                    raise CompensationError(
                        f"column {self.channels[i]} has shape {column.shape}, "
                        f"column {self.channels[needed[0]]} has {first.shape}"
                    )
                block[r] = column
            row = {i: r for r, i in enumerate(needed)}
            comp_keys = [k for k, p in plans.items() if p is not None]
            weights = np.zeros((len(comp_keys), len(needed)))
            for q, (cols, w) in enumerate(p for p in plans.values() if p is not None):
                weights[q, [row[c] for c in cols]] = w
            out = np.empty((len(comp_keys), block.shape[1]))  # (n_wanted, n_events), rows contiguous
            _unmix_columns(block, *_sparse_weights(weights), out)
            for q, key in enumerate(comp_keys):
                result[key] = out[q]
            raw = {i: block[row[i]] for i in needed}
        for key, plan in plans.items():
            if plan is None:
                index = self._column_index(key)
                result[key] = raw[index] if index in raw else np.asarray(get_column(index))
        return {key: result[key] for key in wanted}

    def columns_from_events(self, events: np.ndarray, wanted: Sequence[str | int]) -> dict[str | int, np.ndarray]:
        """Like :meth:`columns` for a whole (n_events, n_channels) matrix in memory.

        One parallel pass over the rows, reading each needed value once, which is
        much faster than fetching strided columns one by one from a row-major array.
        Channels outside the matrix are returned as (strided) views of ``events``.
        """
        array = np.asarray(events)
        if array.ndim != 2 or array.shape[1] != len(self.channels):
            raise CompensationError(
                f"events must be (n_events, {len(self.channels)}) for channels {', '.join(self.channels)}, "
                f"got shape {array.shape}"
            )
        plans = {key: self.weights(key) for key in wanted}
        comp_keys = [k for k, p in plans.items() if p is not None]
        comp_plans = [p for p in plans.values() if p is not None]
        result: dict[str | int, np.ndarray] = {}
        if comp_keys:
            needed = sorted({i for cols, _ in comp_plans for i in cols})
            row = {i: r for r, i in enumerate(needed)}
            weights = np.zeros((len(comp_keys), len(needed)))
            for q, (cols, w) in enumerate(comp_plans):
                weights[q, [row[c] for c in cols]] = w
            source = array if array.dtype in (np.float64, np.float32) else array.astype(np.float64)
            out = np.empty((len(comp_keys), array.shape[0]))  # (n_wanted, n_events), rows contiguous
            _unmix_rows(source, np.asarray(needed, dtype=np.int64), *_sparse_weights(weights), out)
            for q, key in enumerate(comp_keys):
                result[key] = out[q]
        for key, plan in plans.items():
            if plan is None:
                result[key] = array[:, self._column_index(key)]
        return {key: result[key] for key in wanted}

    def _column_index(self, channel: str | int) -> int:
        if isinstance(channel, (int, np.integer)):
            if not 0 <= int(channel) < len(self.channels):
                raise CompensationError(f"column index {channel} outside 0..{len(self.channels) - 1}")
            return int(channel)
        try:
            return self.channels.index(channel)
        except ValueError:
            raise CompensationError(
                f"channel {channel!r} not in the sample (channels: {', '.join(self.channels)})"
            ) from None


def compensate(
    events: np.ndarray | Mapping[str, np.ndarray],
    spillover: Spillover,
    channels: Sequence[str] | None = None,
    *,
    only: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """Compensated columns by channel name.

    Parameters
    ----------
    events : (n_events, n_channels) array, or mapping of channel name -> (n_events,) array
    spillover : Spillover
    channels : sequence of str, optional
        Names of the columns of ``events``; required for an array, ignored for a mapping.
    only : sequence of str, optional
        Channels to return (default: the matrix's detectors, by sample name).

    Returns
    -------
    dict of channel name -> (n_events,) float64 array
    """
    if isinstance(events, Mapping):
        names = [str(k) for k in events]
        columns = [events[k] for k in events]

        def get(i: int) -> np.ndarray:
            return np.asarray(columns[i])
    else:
        array = np.asarray(events)
        if array.ndim != 2:
            raise CompensationError(f"events must be (n_events, n_channels), got shape {array.shape}")
        if channels is None or len(channels) != array.shape[1]:
            raise CompensationError(
                f"need {array.shape[1]} channel names for the event columns, got "
                f"{'none' if channels is None else len(channels)}"
            )
        names = [str(c) for c in channels]
        comp = Compensator(spillover, names)
        wanted = list(only) if only is not None else [names[i] for i in comp.indices]
        return {str(k): v for k, v in comp.columns_from_events(array, wanted).items()}

    comp = Compensator(spillover, names)
    wanted = list(only) if only is not None else [names[i] for i in comp.indices]
    return {str(k): v for k, v in comp.columns(get, wanted).items()}


class WeightedSums:
    """Linear combinations of some columns of a row-major event matrix, prepared once for many blocks.

    Parameters
    ----------
    columns : sequence of int, length k
        The columns read, in increasing order.
    weights : (m, k) float64
        One row of weights per output; zeros are skipped (listed once here,
        not again for every block a file streams in).
    """

    def __init__(self, columns: Sequence[int], weights: np.ndarray) -> None:
        self.columns = np.asarray(columns, dtype=np.int64)
        self.n_outputs = int(np.shape(weights)[0])
        self._sparse = _sparse_weights(np.asarray(weights, float))

    def __call__(self, events: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
        """(m, n_events) float64 sums of ``events`` (n_events, n_channels), float32 or float64.

        ``out[q] = sum_j weights[q, j] * events[:, columns[j]]`` accumulated in
        float64 in column order, which is the order the engine sums a
        compensated gate dimension in, so the values are the gates' own.
        ``out``: where to write (C-contiguous rows); a new array when None.
        """
        array = np.asarray(events)
        source = array if array.dtype in (np.float64, np.float32) else array.astype(np.float64)
        if out is None:
            out = np.empty((self.n_outputs, source.shape[0]))
        _unmix_rows(source, self.columns, *self._sparse, out)
        return out


def weighted_sums(events: np.ndarray, columns: Sequence[int], weights: np.ndarray, *,
                  out: np.ndarray | None = None) -> np.ndarray:
    """``WeightedSums(columns, weights)(events, out=out)``: one call's linear combinations (see :class:`WeightedSums`)."""
    return WeightedSums(columns, weights)(events, out=out)
