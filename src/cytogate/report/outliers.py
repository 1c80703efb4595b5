"""Outlier samples: populations whose frequency is far from the rest of the batch.

For each population, every sample's ``freq_parent`` is put on the logit scale
(frequencies are bounded, and logit makes 1% vs 2% as far apart as 98% vs 99%)
after clipping to ``[0.5/parent_count, 1 - 0.5/parent_count]`` so that 0 and 1
stay finite; the robust z-score is ``(x - median) / (1.4826 · MAD)`` over the
samples of that population.  ``|z| >= threshold`` (default 3.5, the
Iglewicz–Hoaglin cut-off) flags the sample.  A population whose MAD is 0 (all
samples identical) flags nothing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["robust_outliers", "OUTLIER_COLUMNS"]

OUTLIER_COLUMNS = ("sample", "population", "name", "count", "parent_count", "freq_parent", "batch_median",
                   "robust_z")


def robust_outliers(counts: pd.DataFrame, *, threshold: float = 3.5, min_samples: int = 5) -> pd.DataFrame:
    """Samples whose population frequency is far from the batch, by robust z-score of logit frequency.

    Parameters
    ----------
    counts : DataFrame
        A ``counts.csv`` table (columns ``sample, population, name, count,
        parent_count, freq_parent``).
    threshold : float
        Flag ``|robust z| >= threshold``.
    min_samples : int
        Populations seen in fewer samples are not assessed.

    Returns
    -------
    DataFrame
        Columns ``OUTLIER_COLUMNS``, sorted by ``|robust_z|`` descending.
        ``batch_median`` is the median ``freq_parent`` of the population
        (of the population within its panel when ``counts`` has a ``panel``
        column, as a study's does).
    """
    rows = []
    # a study's table: each panel's populations are compared within that panel's tubes
    by = ["panel", "population"] if "panel" in counts.columns else ["population"]
    data = counts.loc[counts["parent_count"] > 0,
                      ["sample", *by, "name", "count", "parent_count", "freq_parent"]]
    for _pop, group in data.groupby(by, sort=False):
        if len(group) < min_samples:
            continue
        n = group["parent_count"].to_numpy(dtype=np.float64)
        f = np.clip(group["freq_parent"].to_numpy(dtype=np.float64), 0.5 / n, 1 - 0.5 / n)
        x = np.log(f / (1 - f))
        med = np.median(x)
        mad = 1.4826 * np.median(np.abs(x - med))
        if not mad > 0:
            continue
        z = (x - med) / mad
        hit = np.abs(z) >= threshold
        if hit.any():
            sub = group.loc[hit].copy()
            sub["batch_median"] = float(np.median(group["freq_parent"]))
            sub["robust_z"] = z[hit]
            rows.append(sub)
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in OUTLIER_COLUMNS})
    out = pd.concat(rows, ignore_index=True)[list(OUTLIER_COLUMNS)]
    return out.iloc[np.argsort(-np.abs(out["robust_z"].to_numpy()), kind="stable")].reset_index(drop=True)
