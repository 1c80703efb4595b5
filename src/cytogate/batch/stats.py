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

__all__ = ["CLASS_LIMIT", "SCALES", "STATS_COLUMNS", "STATS_DTYPES", "intensity_stats", "raw_values",
           "sample_stats_columns", "scaled_values"]

SCALES = ("raw", "compensated", "transformed")
STATS_COLUMNS = ("sample", "population", "channel", "marker", "scale", "n", "n_positive",
                 "median", "mean", "geo_mean", "cv", "robust_cv")


_NO_INDEX = np.zeros(0, dtype=np.int64)
# Scratch arrays reused from one sample to the next by the same thread: a batch worker
# then pays the page faults of fresh memory once, not for every file.
_SCRATCH = threading.local()


def _scratch(name: str, size: int, dtype: Any, *, zeroed: bool = False) -> np.ndarray:
    """A (size,) array of ``dtype`` owned by this thread, valid until the next call with ``name``.

    ``zeroed``: allocated as zeros (its users leave it zero after each use).
    """
    held = getattr(_SCRATCH, name, None)
    if held is None or held.dtype != dtype or held.size < size:
        held = (np.zeros if zeroed else np.empty)(size, dtype=dtype)
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
    if values.dtype not in (np.float32, np.float64):
        values = values.astype(np.float64)
    populations = ["/", *(k for k in masks if k != "/")]
    classes = _classes([masks[k] for k in populations[1:]], values.shape[0])
    if classes is None:
        results = _per_population(values, [masks[k] for k in populations[1:]])
    else:
        from ._class_kernel import scatter_columns

        offsets, positions, members = classes
        ordered = _scratch("ordered", values.shape[0] * values.shape[1], np.float64).reshape(values.shape[1], -1)
        every = np.arange(values.shape[1], dtype=np.int64)
        scatter_columns(values, every, every, 0, positions, ordered)
        results = _class_results(ordered, offsets, members)
    import pandas as pd

    columns = _table_columns(results, populations, channels, markers, scale, sample)
    table = pd.DataFrame(columns, columns=list(STATS_COLUMNS))
    return table.astype({"n": "int64", "n_positive": "int64"})


#: Most membership classes the one-pass kernel takes (its histograms cost 256 KiB each);
#: beyond, each population is measured on its own.
CLASS_LIMIT = 128
STATS_DTYPES = ("object",) * 5 + ("int64", "int64") + ("float64",) * 5


def _classes(masks: Sequence[np.ndarray], n_events: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(class offsets, each event's position in class order, class x population membership with ``/`` first).

    None when the populations cut the events into more than :data:`CLASS_LIMIT` classes.
    """
    from ._class_kernel import class_positions, membership_classes

    stacked = _scratch("masks", len(masks) * n_events, np.uint8).reshape(len(masks), n_events)
    for row, mask in zip(stacked, masks):
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (n_events,):
            raise ValueError(f"a population mask must be ({n_events},), got {mask.shape}")
        row[:] = mask.view(np.uint8)
    cls, members, k = membership_classes(stacked, CLASS_LIMIT)
    if k < 0:
        return None
    offsets, positions = class_positions(cls, k)
    return offsets, positions, np.concatenate([np.ones((k, 1), dtype=np.uint8), members], axis=1)


def _class_results(ordered: np.ndarray, offsets: np.ndarray, members: np.ndarray) -> np.ndarray:
    """(n_populations, n_channels, 8) results of the one-pass kernel on values in class order."""
    from ._class_kernel import class_stats

    k = offsets.shape[0] - 1
    n = ordered.shape[1]
    # all zero between calls: the kernel clears what it used
    hist = _scratch("class_hist", max(k, 1) * 65536, np.int32 if n < 2**31 else np.int64,
                    zeroed=True).reshape(max(k, 1), 65536)
    coarse = _scratch("class_coarse", max(k, 1) * 256, np.int64, zeroed=True).reshape(max(k, 1), 256)
    return class_stats(ordered, offsets, members, hist, coarse, _scratch("class_keys", n, np.uint16),
                       _scratch("gathered", n, np.float64),
                       _scratch("picked", n, np.float64))


def _per_population(values: np.ndarray, masks: Sequence[np.ndarray]) -> np.ndarray:
    """The same results, one kernel call per population and channel (for very many classes)."""
    from ._stats_kernel import column_stats

    n_events = values.shape[0]
    indices: list[np.ndarray | None] = [None, *(np.flatnonzero(np.asarray(m, dtype=bool)).astype(np.int64)
                                                 for m in masks)]
    buf = (_scratch("buf", n_events, np.float64), _scratch("keys", n_events, np.uint16),
           _scratch("tmp", n_events, np.float64),
           _scratch("hist", 65536, np.int32 if n_events < 2**31 else np.int64), np.zeros(65536, np.int8))
    out = np.empty((len(indices), values.shape[1], 8))
    for j in range(values.shape[1]):  # channel-major: each column is made contiguous once
        column = np.ascontiguousarray(values[:, j])
        for p, index in enumerate(indices):
            use_index = index is not None
            out[p, j] = column_stats(column, index if use_index else _NO_INDEX, use_index, *buf)
    return out


def _table_columns(results: np.ndarray, populations: Sequence[str], channels: Sequence[str],
                   markers: Sequence[str | None] | None, scale: str | Sequence[str], sample: str) -> dict[str, Any]:
    """The statistics table as columns (population-major rows), CV and robust CV derived here."""
    n_pop, n_ch = len(populations), len(channels)
    markers = list(markers) if markers is not None else [None] * n_ch
    labels = [scale] * n_ch if isinstance(scale, str) else list(scale)
    flat = results.reshape(n_pop * n_ch, 8)
    n, n_pos, lo, med, hi, mean, sd, geo = (flat[:, i].copy() for i in range(8))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        cv = np.where((n > 1) & (mean != 0), 100.0 * sd / mean, np.nan)
        rcv = np.where((n > 0) & (med != 0), 100.0 * (hi - lo) / 2.0 / med, np.nan)
    return {"sample": [sample] * (n_pop * n_ch),
            "population": [p for p in populations for _ in range(n_ch)],
            "channel": list(channels) * n_pop, "marker": [m or "" for m in markers] * n_pop,
            "scale": labels * n_pop, "n": n.astype(np.int64), "n_positive": n_pos.astype(np.int64),
            "median": med, "mean": mean, "geo_mean": geo, "cv": cv, "robust_cv": rcv}


def sample_stats_columns(strategy: Any, sample: Any, scale: str, masks: Mapping[str, np.ndarray], *,
                         name: str) -> dict[str, Any]:
    """Statistics of every channel of ``sample`` within every population, as table columns (no pandas).

    The values are those of :func:`scaled_values` on ``scale``, streamed from the
    file straight into class order (see :mod:`cytogate.batch._class_kernel`); equal
    to ``intensity_stats(*scaled_values(...), masks, ...)`` column for column.
    """
    channels = [str(c) for c in sample.channels]
    markers = list(getattr(sample, "markers", None) or [None] * len(channels))
    populations = ["/", *(k for k in masks if k != "/")]
    n = int(sample.n_events)
    classes = _classes([masks[k] for k in populations[1:]], n)
    if classes is None:
        values, labels = (raw_values(sample, channels), ["raw"] * len(channels)) if scale == "raw" else \
            scaled_values(strategy, sample, scale, channels)
        results = _per_population(values, [masks[k] for k in populations[1:]])
    else:
        offsets, positions, members = classes
        ordered, labels = _fill(strategy, sample, scale, channels, positions)
        results = _class_results(ordered, offsets, members)
    return _table_columns(results, populations, channels, markers, labels, name)


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
    from ..engine.compile import compile_plan

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


_BLOCK = 1 << 14  # events per block of the compensated scale: a block of compensated channels (13 x 16k float64 =
# 1.7 MB) is still in the L2 cache when it is scattered into class order (64k blocks: 25% slower)


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
    out, labels = _fill(strategy, sample, scale, channels, None)
    return out.T, labels


def _fill(strategy: Any, sample: Any, scale: str, channels: Sequence[str],
          positions: np.ndarray | None) -> tuple[np.ndarray, list[str]]:
    """(n_channels, n_events) values on ``scale`` in a per-thread buffer, and the labels.

    Event ``i`` goes to column ``positions[i]`` (event order when None).
    """
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    from ..compensation import WeightedSums

    all_channels = [str(c) for c in sample.channels]
    columns = [all_channels.index(c) for c in channels]
    if scale == "raw":
        recipes: list[Any] = [((c,), (1.0,), None) for c in columns]
        labels = ["raw"] * len(columns)
    else:
        recipes, labels = _recipes(strategy, sample, columns)
    plain = [(q, chans[0]) for q, (chans, ws, _) in enumerate(recipes) if ws == (1.0,)]
    mixed = [q for q, (_, ws, _) in enumerate(recipes) if ws != (1.0,)]
    read = sorted({i for q in mixed for i in recipes[q][0]})
    position = {i: k for k, i in enumerate(read)}
    weights = np.zeros((len(mixed), len(read)))
    for row, q in enumerate(mixed):
        chans, ws, _ = recipes[q]
        weights[row, [position[i] for i in chans]] = ws
    mixed_sums = WeightedSums(read, weights)
    n = int(sample.n_events)
    # a per-thread buffer, filled block by block as the file streams
    out = _scratch("scaled", len(recipes) * n, np.float64).reshape(len(recipes), n)
    mixed_out = _scratch("mixed", len(mixed) * _BLOCK, np.float64).reshape(len(mixed), _BLOCK)
    if positions is not None:
        from ._class_kernel import scatter_columns

        plain_src = np.array([c for _, c in plain], dtype=np.int64)
        plain_dst = np.array([q for q, _ in plain], dtype=np.int64)
        mixed_src = np.arange(len(mixed), dtype=np.int64)
        mixed_dst = np.array(mixed, dtype=np.int64)
    for start, block in sample.blocks(_BLOCK):
        stop = start + block.shape[0]
        if positions is None:
            for q, c in plain:
                out[q, start:stop] = block[:, c]
        elif plain:
            scatter_columns(block, plain_src, plain_dst, start, positions, out)
        if mixed:  # one sparse pass over the block's rows, each sum in the gates' own order
            part = mixed_sums(block, out=mixed_out[:, :block.shape[0]])
            if positions is None:
                out[mixed, start:stop] = part
            else:
                scatter_columns(part.T, mixed_src, mixed_dst, start, positions, out)
    if scale == "transformed":
        for q, (_, _, transform) in enumerate(recipes):
            if transform is not None:
                out[q] = transform.apply(out[q])
                labels[q] = "transformed"
    return out, labels
