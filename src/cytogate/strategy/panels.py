"""Marker panels: alias tables that let one strategy serve many instruments.

A strategy names markers (``CD268``); each FCS file labels its channels with
``$PnS`` (``BAFF-R``) and detector names ``$PnN`` (``BV421-A``).  An alias table
lists the names one marker goes by::

    CD268: [CD268, BAFF-R, BAFFR, TNFRSF13C]
    CD303: [CD303, BDCA-2, BDCA2]

It can sit in the strategy (``markers:``) or in a separate panel file referenced
with ``panel: file.yaml`` (either the bare table, or ``{cytogate_panel: 1,
markers: {...}}``).  :func:`resolve_marker` finds a name in one file: exact
``$PnN``, exact ``$PnS``, then every alias of the marker's group; ambiguous or
missing names raise :class:`~cytogate.errors.MarkerError` listing what the file has.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import MarkerError, StrategyError
from .yaml_schema import Ctx, LocList, LocMap, load_located

__all__ = ["STANDARD_ALIASES", "parse_alias_table", "is_panel_file", "load_panel", "merge", "expand", "resolve_marker"]

# Common synonyms of the markers the ready-made strategies use.
STANDARD_ALIASES: dict[str, tuple[str, ...]] = {
    "CD268": ("CD268", "BAFF-R", "BAFFR", "BAFF R", "TNFRSF13C"),
    "CD303": ("CD303", "BDCA-2", "BDCA2", "CLEC4C"),
    "CD1c": ("CD1c", "BDCA-1", "BDCA1"),
    "CD141": ("CD141", "BDCA-3", "BDCA3"),
    "CD123": ("CD123", "IL-3R", "IL3RA", "IL-3Ra"),
    "HLA-DR": ("HLA-DR", "HLADR", "HLA DR", "MHC-II"),
    "CCR7": ("CCR7", "CD197"),
    "CD127": ("CD127", "IL-7R", "IL7RA", "IL-7Ra"),
    "CD25": ("CD25", "IL-2RA", "IL2RA"),
    "CD56": ("CD56", "NCAM", "NCAM1"),
    "CD16": ("CD16", "FCGR3A", "FcgRIII"),
    "CD11c": ("CD11c", "ITGAX"),
    "CD45RA": ("CD45RA", "CD45-RA"),
    "IgD": ("IgD", "IGHD"),
    "Live/Dead": ("Live/Dead", "LiveDead", "Live Dead", "Live-Dead", "Live_Dead", "Live", "Dead", "Viability",
                  "Viability dye", "LD", "L/D", "L-D", "7-AAD", "7AAD", "DAPI", "PI", "Propidium iodide", "DRAQ7",
                  "SYTOX", "TO-PRO-3", "Fixable Viability", "FVS", "FVD", "Zombie", "Zombie Aqua", "Zombie Green",
                  "Zombie NIR", "Zombie Red", "Zombie Violet", "Zombie Yellow", "LIVE/DEAD Aqua", "LIVE/DEAD Blue",
                  "LIVE/DEAD Near-IR", "LIVE/DEAD Violet", "eF506", "eF780", "eFluor 506 viability",
                  "eFluor 780 viability"),
    "Lin": ("Lin", "LIN", "Lineage", "Lin-1", "Lin1", "Lin 1", "Lineage cocktail", "Lin cocktail", "Dump",
            "Lin-Dump", "Lineage-Dump", "CD3/14/16/19/20/56", "CD3-14-16-19-20-56", "CD3 CD14 CD16 CD19 CD20 CD56"),
}


def parse_alias_table(table: Mapping[str, Any], ctx: Ctx | None = None) -> dict[str, tuple[str, ...]]:
    """``{marker: [alias, ...]}`` (or a single alias string) -> groups with the marker first.

    Raises
    ------
    StrategyError
        A non-text entry, or one alias claimed by two markers.
    """
    ctx = ctx or Ctx("<markers>")
    out: dict[str, tuple[str, ...]] = {}
    owner: dict[str, str] = {}
    for marker, names in table.items():
        mctx = ctx.at(table.where(marker)) if isinstance(table, LocMap) else ctx
        items = list(names) if isinstance(names, (list, LocList, tuple)) else [names]
        group = [str(marker)]
        for i, name in enumerate(items):
            ictx = mctx.at(names.where(i)) if isinstance(names, LocList) else mctx
            if not isinstance(name, str) or not name.strip():
                ictx.fail(f"aliases of {marker!r} must be texts, got {name!r}")
            if name.strip() not in group:
                group.append(name.strip())
        for name in group:
            if owner.get(name.casefold(), marker) != marker:
                mctx.fail(f"alias {name!r} is listed for both {owner[name.casefold()]!r} and {marker!r}")
            owner[name.casefold()] = marker
        out[str(marker)] = tuple(group)
    return out


_PARSED: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {}  # (path, text) -> table: re-loads of one file


_FIRST_KEY = re.compile(r"^\ufeff?(?:[ \t]*(?:#[^\n]*)?\n)*[\"']?cytogate_panel[\"']?[ \t]*:")


def is_panel_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a marker panel file: first key ``cytogate_panel`` (False when unreadable)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(65536).decode("utf-8", "replace")
    except OSError:
        return False
    return _FIRST_KEY.match(head) is not None


def load_panel(path: str | Path) -> dict[str, tuple[str, ...]]:
    """Read a panel file: a bare ``marker: [aliases]`` table or ``{cytogate_panel: 1, markers: ...}``.

    The file is read every time; its table is parsed again only when its text changed.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise StrategyError(f"cannot read panel file: {exc.strerror}", path=str(path)) from None
    key = (str(path), text)
    if key not in _PARSED:
        if len(_PARSED) >= 32:
            _PARSED.pop(next(iter(_PARSED)))
        _PARSED[key] = _parse_panel(text, path)
    return dict(_PARSED[key])


def _parse_panel(text: str, path: Path) -> dict[str, tuple[str, ...]]:
    ctx = Ctx(str(path))
    doc = load_located(text, source=str(path))
    if not isinstance(doc, LocMap):
        ctx.fail("a panel file must be a mapping of marker: [aliases]")
    ctx = ctx.at(doc.mark)
    if "cytogate_panel" in doc or "markers" in doc:
        for key in doc:
            if key not in ("cytogate_panel", "name", "description", "markers"):
                ctx.at(doc.key_marks[key]).fail(f"unknown key {key!r} in panel file; allowed: cytogate_panel, "
                                                 f"name, description, markers")
        if doc.get("cytogate_panel", 1) != 1:
            ctx.at(doc.where("cytogate_panel")).fail(f"unsupported cytogate_panel version {doc['cytogate_panel']!r}")
        markers = doc.get("markers")
        if not isinstance(markers, LocMap):
            ctx.at(doc.where("markers")).fail("'markers' must be a mapping of marker: [aliases]")
        return parse_alias_table(markers, ctx.at(doc.where("markers")))
    return parse_alias_table(doc, ctx)


def merge(target: dict[str, tuple[str, ...]], table: Mapping[str, Sequence[str]], *, where: str = "") -> None:
    """Add ``table``'s groups to ``target`` (same marker: names are united)."""
    for marker, names in table.items():
        existing = list(target.get(marker, (marker,)))
        existing += [n for n in names if n not in existing]
        target[marker] = tuple(existing)
    # the union must still give each alias one marker
    owner: dict[str, str] = {}
    for marker, names in target.items():
        for name in names:
            prior = owner.setdefault(name.casefold(), marker)
            if prior != marker:
                raise StrategyError(f"alias {name!r} is listed for both {prior!r} and {marker!r}",
                                    path=where or None)


def expand(table: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """Every name of every group -> all names of its group (the marker first)."""
    out: dict[str, tuple[str, ...]] = {}
    for marker, names in table.items():
        group = tuple(dict.fromkeys((marker, *names)))
        for name in group:
            out[name] = group
    return out


def resolve_marker(
    name: str,
    channels: Sequence[str],
    markers: Sequence[str | None],
    aliases: Mapping[str, Sequence[str]] | None = None,
) -> int:
    """Index of the channel that ``name`` denotes in one file.

    Order: exact ``$PnN``; exact ``$PnS``; each name of ``name``'s alias group
    through ``$PnN`` then ``$PnS``; finally a unique case-insensitive match.

    Parameters
    ----------
    name : str
        Marker or channel name from the strategy.
    channels : sequence of str, length n_channels
        ``$PnN`` of the file.
    markers : sequence of str or None, length n_channels
        ``$PnS`` of the file.
    aliases : mapping marker -> names, optional
        The alias table (groups as in :func:`parse_alias_table`).

    Raises
    ------
    MarkerError
        Not found, or several channels match; the message lists the file's channels.
    """
    channels = [str(c) for c in channels]
    labels = ["" if m is None else str(m) for m in markers]
    listing = ", ".join(f"{c} ({m})" if m else c for c, m in zip(channels, labels))
    groups = expand(aliases or {})
    candidates = tuple(dict.fromkeys((name, *groups.get(name, ()))))

    def pick(hits: set[int]) -> int | None:
        if len(hits) > 1:
            which = ", ".join(f"{channels[i]} ({labels[i]})" if labels[i] else channels[i] for i in sorted(hits))
            raise MarkerError(f"marker {name!r} is ambiguous: it matches channels {which}")
        return hits.pop() if hits else None

    if name in channels:
        return channels.index(name)
    found = pick({i for i, m in enumerate(labels) if m == name})
    if found is not None:
        return found
    found = pick({i for c in candidates for i, x in enumerate(channels) if x == c}
                 | {i for c in candidates for i, m in enumerate(labels) if m and m == c})
    if found is not None:
        return found
    folded = {c.casefold() for c in candidates}
    found = pick({i for i, x in enumerate(channels) if x.casefold() in folded}
                 | {i for i, m in enumerate(labels) if m and m.casefold() in folded})
    if found is not None:
        return found
    also = f" (also tried {', '.join(c for c in candidates if c != name)})" if len(candidates) > 1 else ""
    raise MarkerError(f"marker or channel {name!r} not found{also}; the file has: {listing}")
