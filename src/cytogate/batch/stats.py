"""Marker intensity statistics per population: median, mean, geometric mean, CV, robust CV.

Definitions (one row per population x channel, on the scale the user chose):

- ``median``: the 50th percentile (linear interpolation between order statistics);
- ``mean``: arithmetic mean;
- ``geo_mean``: ``exp(mean(log x))`` over the events with ``x > 0`` only (the
  geometric mean is undefined for values <= 0, which compensation and
  transforms produce); ``n_positive`` says how many events it used;
- ``cv``: ``100 * sd / mean`` with the sample standard deviation (ddof=1);
- ``robust_cv``: ``100 * (P84.13 - P15.87) / 2 / median``, the spread of the
  central 68.26 % of events relative to the median (FlowJo's rCV definition).

Events whose value is NaN (possible on a transformed scale) are left out of
that channel's statistics; a CV or rCV whose denominator is 0 is NaN.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SCALES", "STATS_COLUMNS", "intensity_stats", "raw_values", "scaled_values"]

SCALES = ("raw", "compensated", "transformed")
STATS_COLUMNS = ("sample", "population", "channel", "marker", "scale", "n", "n_positive",
                 "median", "mean", "geo_mean", "cv", "robust_cv")


def _column_stats(x: np.ndarray, index: np.ndarray | None, scratch: tuple[np.ndarray, ...]) -> tuple[Any, ...]:
    from ._stats_kernel import column_stats

    use_index = index is not None
    n, n_pos, lo, med, hi, mean, sd, geo = column_stats(x, index if use_index else _NO_INDEX, use_index, *scratch)
    cv = 100.0 * sd / mean if n > 1 and mean != 0 else np.nan
    rcv = 100.0 * (hi - lo) / 2.0 / med if n > 0 and med != 0 else np.nan
    return int(n), int(n_pos), float(med), float(mean), float(geo), float(cv), float(rcv)


_NO_INDEX = np.zeros(0, dtype=np.int64)
# Scratch arrays reused from one sample to the next by the same thread: a batch worker
# then pays the page faults of fresh memory once, not for every file.
_SCRATCH = threading.local()


def _scratch(name: str, size: int, dtype: Any) -> np.ndarray:
    """A (size,) array of ``dtype`` owned by this thread, valid until the next call with ``name``."""
    held = getattr(_SCRATCH, name, None)
    if held is None or held.dtype != dtype or held.size < size:
        held = np.empty(size, dtype=dtype)
        setattr(_SCRATCH, name, held)
    return held[:size]


def raw_values(sample: Any, channels: Sequence[str]) -> np.ndarray:
    """FCS scale values of ``channels``, (n_events, n_channels), each column contiguous.

    Read block by block into a per-thread buffer that the next call reuses (use
    the result before reading another sample); equal to
    ``scaled_values(strategy, sample, "raw", channels)``.
    """
    all_channels = [str(c) for c in sample.channels]
    cols = [all_channels.index(c) for c in channels]
    n = int(sample.n_events)
    blocks = sample.blocks(1 << 16)
    first = next(blocks, None)
    dtype = np.float64 if first is None else first[1].dtype
    out = _scratch("columns", len(cols) * n, dtype).reshape(len(cols), n)
    if first is not None:  # blocks share one read buffer: copy each before asking for the next
        for start, block in itertools.chain([first], blocks):
            out[:, start:start + block.shape[0]] = block[:, cols].T
    return out.T


def intensity_stats(
    values: np.ndarray,
    channels: Sequence[str],
    masks: Mapping[str, np.ndarray],
    *,
    sample: str,
    markers: Sequence[str | None] | None = None,
    scale: str | Sequence[str] = "raw",
) -> pd.DataFrame:
    """Statistics of every channel within every population.

    Parameters
    ----------
    values : (n_events, n_channels) array
        Event values on the chosen scale; float64 is used for the sums.
    channels : sequence of str, length n_channels
        Channel names (``$PnN``).
    masks : mapping population path -> (n_events,) bool array
        Population membership; ``/`` (all events) is added when absent.
    sample : str
        Sample name written on every row.
    markers : sequence of str or None, optional
        Marker names (``$PnS``) per channel.
    scale : {"raw", "compensated", "transformed"} or a sequence of them, one per channel
        Recorded on every row (a sequence: each channel's rows get its own label).

    Returns
    -------
    DataFrame
        Columns :data:`STATS_COLUMNS`, populations in ``masks`` order, ``/`` first.
    """
    values = np.asarray(values)
    if values.ndim != 2 or values.shape[1] != len(channels):
        raise ValueError(f"values must be (n_events, {len(channels)}), got {values.shape}")
    markers = list(markers) if markers is not None else [None] * len(channels)
    ordered: dict[str, np.ndarray | None] = {"/": None}  # population -> event positions
    ordered.update({k: np.flatnonzero(np.asarray(v, dtype=bool)).astype(np.int64) for k, v in masks.items()
                    if k != "/"})
    n_events = values.shape[0]
    buf = (_scratch("buf", n_events, np.float64), _scratch("keys", n_events, np.uint16),
           _scratch("tmp", n_events, np.float64), _scratch("hist", 65536, np.int32 if n_events < 2**31 else np.int64), np.zeros(65536, np.int8))
    results: dict[tuple[str, int], tuple[Any, ...]] = {}
    for j in range(len(channels)):  # channel-major: each column is made contiguous once
        column = values[:, j]
        if column.dtype not in (np.float32, np.float64):
            column = column.astype(np.float64)
        column = np.ascontiguousarray(column)
        for population, index in ordered.items():
            results[population, j] = _column_stats(column, index, buf)
    labels = [scale] * len(channels) if isinstance(scale, str) else list(scale)
    rows = [(sample, population, channels[j], markers[j] or "", labels[j], *results[population, j])
            for population in ordered for j in range(len(channels))]
    import pandas as pd

    table = pd.DataFrame(rows, columns=list(STATS_COLUMNS))
    return table.astype({"n": "int64", "n_positive": "int64"})


def _recipes(strategy: Any, sample: Any, columns: Sequence[int]) -> tuple[list[Any], list[str]]:
    """Per wanted column, (sample columns, weights, transform or None) as the gates read it, and its scale label.

    A channel a gate reads is compensated exactly as that gate compensates it (the
    first such gate in strategy order); a channel no gate reads is compensated
    with the file's own spillover, or left as it is when it is outside that
    matrix or the file has none.  When the file's spillover cannot be matched to
    its channels, the channels no gate reads are left uncompensated and labelled
    ``raw`` (never silently passed off as compensated).
    """
    from ..compensation import Compensator
    from ..errors import CompensationError
    from ..plan import compile_plan

    if strategy is not None:  # optional dimensions and populations dropped where this file lacks them
        from ..strategy.panel_gaps import fit_to_panel

        strategy = fit_to_panel(strategy, sample, None)[0]
    plan = None if strategy is None else compile_plan(strategy, sample)
    chosen = {} if plan is None else plan.channel_recipes
    compensator = None
    spill_problem = None
    if getattr(sample, "spillover", None) is not None:
        try:
            compensator = Compensator(sample.spillover, [str(c) for c in sample.channels])
        except CompensationError as exc:
            spill_problem = exc.message
    recipes: list[Any] = []
    labels: list[str] = []
    for c in columns:
        recipe = chosen.get(c)
        if recipe is not None and recipe.base.ratio is None:
            base = recipe.base
            weights = (1.0,) if base.coefs is None else base.coefs
            transform = None if recipe.transform_id is None else plan.transforms[recipe.transform_id]  # type: ignore[union-attr]  # chosen is empty without a plan
            recipes.append((base.channels, weights, transform))
            labels.append("compensated")
            continue
        found = compensator.weights(c) if compensator is not None else None
        if found is None:
            recipes.append(((c,), (1.0,), None))
        else:
            pairs = sorted((int(i), float(w)) for i, w in zip(*found) if float(w) != 0.0)
            recipes.append((tuple(i for i, _ in pairs), tuple(w for _, w in pairs), None))
        labels.append("raw" if spill_problem is not None else "compensated")
    if spill_problem is not None:
        log.warning("%s: statistics of channels no gate reads are uncompensated: %s",
                    getattr(sample, "path", "sample"), spill_problem)
    return recipes, labels


_BLOCK = 1 << 16  # events per block of the compensated scale


def scaled_values(strategy: Any, sample: Any, scale: str, channels: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Event values of ``channels`` on a scale, (n_events, n_channels), and each channel's scale label.

    ``raw`` is the FCS scale values.  ``compensated`` (the default of a run) is
    the values the gates saw: each channel compensated as the strategy's gates
    compensate it, channels no gate reads compensated with the file's own
    spillover.  The values are in a per-thread buffer that the next call
    reuses (use them before reading another sample).  ``transformed`` further applies, per channel, the transform
    of the gate that reads it (channels no gate transforms stay compensated).
    """
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    all_channels = [str(c) for c in sample.channels]
    columns = [all_channels.index(c) for c in channels]
    if scale == "raw":  # no copy: the kernel reads float32 or float64 columns as they are
        events = np.asarray(sample.events)
        values = events if columns == list(range(len(all_channels))) else events[:, columns]
        return values, ["raw"] * len(columns)
    from ..compensation import weighted_sums

    recipes, labels = _recipes(strategy, sample, columns)
    plain = [(q, chans[0]) for q, (chans, ws, _) in enumerate(recipes) if ws == (1.0,)]
    mixed = [q for q, (_, ws, _) in enumerate(recipes) if ws != (1.0,)]
    read = sorted({i for q in mixed for i in recipes[q][0]})
    position = {i: k for k, i in enumerate(read)}
    weights = np.zeros((len(mixed), len(read)))
    for row, q in enumerate(mixed):
        chans, ws, _ = recipes[q]
        weights[row, [position[i] for i in chans]] = ws
    n = int(sample.n_events)
    # a per-thread buffer, filled block by block as the file streams (like the raw path)
    out = _scratch("scaled", len(recipes) * n, np.float64).reshape(len(recipes), n)
    mixed_out = _scratch("mixed", len(mixed) * _BLOCK, np.float64).reshape(len(mixed), _BLOCK)
    for start, block in sample.blocks(_BLOCK):
        stop = start + block.shape[0]
        for q, c in plain:
            out[q, start:stop] = block[:, c]
        if mixed:  # one sparse pass over the block's rows, each sum in the gates' own order
            part = weighted_sums(block, read, weights, out=mixed_out[:, :block.shape[0]])
            out[mixed, start:stop] = part
    if scale == "transformed":
        for q, (_, _, transform) in enumerate(recipes):
            if transform is not None:
                out[q] = transform.apply(out[q])
                labels[q] = "transformed"
    return out.T, labels
