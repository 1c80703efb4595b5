"""The per-sample gate record of a run: ``fits.parquet`` and its manifest summary.

One row per sample x population x gate parameter that was not simply the
strategy's fixed value: where each data-driven gate landed on each file, and
each optional dimension or population skipped because the file lacks its
channel.  Columns (:data:`FITS_COLUMNS`, schema :data:`FITS_SCHEMA`):

``schema`` (1), ``sample``, ``population`` (path as in ``counts.csv``), ``gate``
(the strategy's gate kind), ``parameter`` (``FSC-A.min``, ``divider.CD4``,
``ratio_high``, ``mean.CD14``), ``value`` (where the gate landed on this file),
``template`` (the strategy's own number, its fallback, or null), ``status``
(``fitted``, ``fallback``, ``skipped``, ``override`` for a reviewer's per-sample gate,
with its reason, author and date; ``template`` / ``followed`` for sources that write this
table too), ``confidence`` (0-1 or
null), ``reason`` and ``rule`` (the rule or bounds the fit followed).

Followed static gates (template following, :mod:`cytogate.follow`) write
one row per gate parameter too (``vertex3.x``, ``CD3.min``, ``divider.CD4``):
``status`` ``followed``, ``fallback`` (template kept, flagged) or ``template``
(pinned), their ``confidence``, and ``rule`` ``template following``; the rows
of one sample and population are that gate's whole geometry.

``counts.csv`` gets a ``gate_source`` column from the same facts
(:func:`gate_sources`).  Rows are built in the worker as plain lists (no
pandas there) and stored in each sample's cached record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import GateError
from ..strategy.follow_settings import is_follow_row

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FITS_SCHEMA", "FITS_COLUMNS", "StrictFitError", "fit_rows", "override_rows", "gate_sources",
           "fits_table", "FitsTally", "fits_summary", "check_strict"]

FITS_SCHEMA = 1
FITS_COLUMNS = ("schema", "sample", "population", "gate", "parameter", "value", "template", "status",
                "confidence", "reason", "rule")
_FLOATS = ("value", "template", "confidence")


class StrictFitError(GateError):
    """A data-driven gate fell back on a run that asked for strict fits."""


def _params(fit: Mapping[str, Any], labels: Sequence[str]) -> list[tuple[str, float]]:
    """``(parameter, value)`` of one fit record."""
    params = fit.get("params", {})
    if "threshold" in params:
        return [(fit.get("parameter") or "threshold", float(params["threshold"]))]
    if "ratio_low" in params:
        return [(name, float(params[name])) for name in ("ratio_low", "ratio_high")]
    if "mean" in params:
        return [(f"mean.{label}", float(v)) for label, v in zip(labels, params["mean"])]
    return []


def fit_rows(result: Any, sample: str) -> list[dict[str, Any]]:
    """The ``fits.parquet`` rows of one gating result (``cytogate.GatingResult``)."""
    rows = []
    for pop in result.strategy.populations:
        fitted = result.fitted.get(pop.path)
        if fitted is None:
            continue
        labels = [d.label for d in pop.gate.dimensions]
        for fit in fitted.get("fits", []):
            diagnostics = fit.get("diagnostics", {})
            template, rule = diagnostics.get("template"), diagnostics.get("rule", fit.get("method", ""))
            for parameter, value in _params(fit, labels):
                rows.append({"schema": FITS_SCHEMA, "sample": sample, "population": pop.path,
                             "gate": pop.gate.kind, "parameter": parameter, "value": value,
                             "template": None if template is None else float(template),
                             "status": fit.get("status", "fallback" if fit.get("used_fallback") else "fitted"),
                             "confidence": fit.get("confidence"), "reason": fit.get("reason", ""),
                             "rule": str(rule)})
    followed = getattr(result, "follow", ())
    if followed:
        from ..follow import fit_rows as follow_rows

        rows += follow_rows(sample, followed)
    kinds = {p.path: p.gate.kind for p in result.strategy.populations}
    for skip in getattr(result, "skipped", ()):
        rows.append({"schema": FITS_SCHEMA, "sample": sample, "population": skip.population,
                     "gate": kinds.get(skip.population, ""), "parameter": skip.parameter, "value": None,
                     "template": None, "status": "skipped", "confidence": None, "reason": skip.reason,
                     "rule": ""})
    return rows


def override_rows(strategy: Any, sample: str, overrides: Any) -> list[dict[str, Any]]:
    """One ``override`` row per population a reviewer overrode on this sample (``SampleOverrides``)."""
    if overrides is None:
        return []
    kinds = {p.path: p.gate.kind for p in strategy.populations}
    return [{"schema": FITS_SCHEMA, "sample": sample, "population": entry.population,
             "gate": kinds.get(entry.population, ""), "parameter": "gate", "value": None, "template": None,
             "status": "override", "confidence": None,
             "reason": f"{entry.reason} ({entry.author}, {entry.date})", "rule": ""}
            for entry in overrides.entries]


def gate_sources(result: Any, rows: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Where each population's gate came from on this file.

    ``template``, ``fitted``, ``followed``, ``fallback`` (a fit's fallback, or a
    followed gate that kept its template geometry) or ``skipped``.
    """
    passed = {s.population for s in getattr(result, "skipped", ()) if s.reason.endswith("passes its parent through")
              or "every dimension" in s.reason}
    out = {}
    for pop in result.strategy.populations:
        statuses = {r["status"] for r in rows if r["population"] == pop.path}
        if "override" in statuses:
            out[pop.path] = "override"
        elif pop.path in passed:
            out[pop.path] = "skipped"
        elif "fallback" in statuses:
            out[pop.path] = "fallback"
        elif "fitted" in statuses:
            out[pop.path] = "fitted"
        elif "followed" in statuses:
            out[pop.path] = "followed"
        else:
            out[pop.path] = "template"
    return out


def check_strict(rows: Sequence[Mapping[str, Any]], path: str) -> None:
    """Raise :class:`StrictFitError` naming the first data-driven fit that fell back."""
    for row in rows:
        if row["status"] == "fallback" and not is_follow_row(row):
            raise StrictFitError(f"--strict-fits: {row['parameter']} fell back ({row['reason']})", path=path,
                                 population=row["population"])


def fits_table(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The ``fits.parquet`` table from the rows of every sample, in the order given."""
    import pandas as pd

    table = pd.DataFrame(list(rows), columns=list(FITS_COLUMNS))
    table["schema"] = table["schema"].astype("int64")
    for column in _FLOATS:
        table[column] = pd.to_numeric(table[column], errors="coerce").astype("float64")
    for column in set(FITS_COLUMNS) - set(_FLOATS) - {"schema"}:
        table[column] = table[column].astype(object)
    return table


class FitsTally:
    """The manifest's fits summary, counted one sample at a time (:func:`fits_summary`)."""

    def __init__(self) -> None:
        self.populations: dict[str, dict[str, Any]] = {}
        self.totals = {"fits": 0, "fallbacks": 0, "skipped": 0}

    def add(self, sample: str, rows: Sequence[Mapping[str, Any]]) -> None:
        populations, totals = self.populations, self.totals
        for row in rows:
            if is_follow_row(row):  # counted in the manifest's "follow" block
                continue
            entry = populations.setdefault(row["population"], {"fits": 0, "fallbacks": 0, "skipped": 0,
                                                               "fallback_samples": []})
            if row["status"] in ("skipped", "override"):
                key = "skipped" if row["status"] == "skipped" else "overrides"
                entry[key] = entry.get(key, 0) + 1
                totals[key] = totals.get(key, 0) + 1
                continue
            entry["fits"] += 1
            totals["fits"] += 1
            if row["status"] == "fallback":
                entry["fallbacks"] += 1
                totals["fallbacks"] += 1
                if sample not in entry["fallback_samples"]:
                    entry["fallback_samples"].append(sample)

    def summary(self) -> dict[str, Any]:
        return {"schema": FITS_SCHEMA, "file": "fits.parquet", **self.totals, "populations": self.populations}


def fits_summary(per_sample: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, Any]:
    """Manifest summary: how many fits there were, fell back or were skipped, in all and per population."""
    tally = FitsTally()
    for sample, rows in per_sample.items():
        tally.add(sample, rows)
    return tally.summary()
