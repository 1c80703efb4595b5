"""The ``follow:`` parts of a YAML strategy: template following's reference and settings.

Strategy level::

    follow:
      reference: drawn_on.fcs        # relative to the strategy file
      max_displacement: 0.2          # any FollowSettings field (docs/follow.md)

Per population, ``follow: false`` pins the gate to its template and a mapping
overrides settings for that gate (on top of the strategy-level ones);
``follow: true`` is the default.  Per-population entries are allowed without a
strategy-level section: they apply when the run is given a reference
(``cytogate run --follow REF.fcs``).  Every problem is a
:class:`~cytogate.errors.StrategyError` at the offending key's line and column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import CytogateError
from .follow_settings import SETTING_KEYS, FollowSettings, FollowSpec
from .yaml_schema import Ctx, LocMap, ParsedPopulation, as_mapping, as_string, check_keys

__all__ = ["FOLLOW_KEYS", "follow_spec", "population_follow"]

#: Keys of the strategy-level ``follow:`` mapping.
FOLLOW_KEYS = ("reference", *SETTING_KEYS)


def _settings(data: LocMap, ctx: Ctx, base: FollowSettings | None, skip: tuple[str, ...] = ()) -> FollowSettings:
    """Settings from a located mapping; an invalid value fails at its own line and column."""
    values = {k: v for k, v in data.items() if k not in skip}
    for key, value in values.items():  # each value alone first, so the error points at it
        try:
            FollowSettings.from_mapping({key: value}, base)
        except CytogateError as exc:
            ctx.at(data.where(key)).fail(exc.message)
    try:
        return FollowSettings.from_mapping(values, base)
    except CytogateError as exc:  # pragma: no cover - every value passed alone
        ctx.fail(exc.message)


def population_follow(value: Any, ctx: Ctx) -> Any:
    """A population's ``follow:`` as written: True, False or a located mapping of settings."""
    if isinstance(value, bool):
        return value
    data = as_mapping(value, ctx, "follow (true, false or a mapping of settings)")
    check_keys(data, SETTING_KEYS, ctx, "a population's follow settings")
    return data


def follow_spec(doc: LocMap, entries: dict[str, ParsedPopulation], ctx: Ctx, base_dir: Path) -> FollowSpec | None:
    """The strategy's :class:`FollowSpec` (None when neither level mentions following).

    ``entries`` are the parsed populations with their paths resolved.
    """
    reference, settings = None, FollowSettings()
    if "follow" in doc:
        fctx = ctx.at(doc.where("follow"))
        top = as_mapping(doc["follow"], fctx, "follow")
        check_keys(top, FOLLOW_KEYS, fctx, "follow")
        if "reference" in top:
            text = as_string(top["reference"], fctx.at(top.where("reference")), "follow reference")
            path = Path(text).expanduser()
            reference = str(path if path.is_absolute() else (base_dir / path).resolve())
        settings = _settings(top, fctx, None, skip=("reference",))
    populations: dict[str, FollowSettings | None] = {}
    for entry in entries.values():
        if entry.follow is None:
            continue
        value, pctx = entry.follow
        gate = entry.gate
        if callable(gate) or gate.needs_fit or gate.references:
            what = "a boolean gate" if callable(gate) or gate.references else f"a data-driven {gate.kind} gate"
            pctx.fail(f"'follow:' applies to static gates; {entry.path} has {what}, which is fitted or combined "
                      f"on each sample, not followed")
        if value is False:
            populations[entry.path] = None
        elif isinstance(value, LocMap):
            own = _settings(value, pctx, settings)
            if own != settings:
                populations[entry.path] = own
    if "follow" not in doc and not populations:
        return None
    return FollowSpec(reference, settings, populations)
