"""The one channel resolver: which column of a file a name in a strategy or matrix means.

Gates, compensation matrices, statistics and the report all find columns here,
so a name that resolves for one resolves for all.  A name is looked up, in this
order, as

1. the exact ``$PnN`` of a channel;
2. the exact ``$PnS`` (marker) of exactly one channel;
3. an alias (``alias -> channel or marker``, or a group of synonyms from a
   marker panel: exactly one of them may match), resolved again by 1-2;
4. the same ``$PnN`` after removing FlowJo's decorations on both sides
   (``Comp-FITC-A``, ``<FITC-A>``, ``Comp-<FITC-A>`` all mean ``FITC-A``);
5. a case-insensitive match of 4 or of the ``$PnS``, when it is unique.

Detectors of a spillover matrix are ``$PnN`` names: they are resolved with
steps 1, 4 and 5 on ``$PnN`` only (markers never name a detector).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

from .errors import MarkerError

__all__ = ["ChannelResolver", "MarkerAliases", "normalize_channel_name", "resolve_channel"]

# a name -> one channel or marker, or a group of synonyms (a strategy's expanded marker panel)
MarkerAliases: TypeAlias = Mapping[str, "str | tuple[str, ...]"]


def normalize_channel_name(name: str) -> str:
    """Strip FlowJo decorations: surrounding blanks, ``Comp-`` prefixes and ``<…>`` wrapping.

    ``"Comp-FITC-A"``, ``"<FITC-A>"`` and ``"Comp-<FITC-A>"`` all give ``"FITC-A"``.
    """
    text = name.strip()
    while True:
        before = text
        if text[:5].lower() == "comp-":
            text = text[5:].strip()
        if len(text) >= 2 and text[0] == "<" and text[-1] == ">":
            text = text[1:-1].strip()
        if text == before:
            return text


class ChannelResolver:
    """Resolve names to column indices of one file's channel layout.

    Parameters
    ----------
    channels : sequence of str
        ``$PnN`` in column order.
    markers : sequence of str or None, optional
        ``$PnS`` per column (None or empty: no marker).  Leave out to resolve
        detector names only.
    aliases : mapping, optional
        ``name -> channel or marker`` or ``name -> tuple of synonyms``.
    """

    def __init__(self, channels: Sequence[Any], markers: Sequence[Any] | None = None,
                 aliases: Mapping[str, Any] | None = None) -> None:
        self.channels = tuple(str(c) for c in channels)
        self.markers = tuple("" if m is None else str(m) for m in (markers or [None] * len(self.channels)))
        self.aliases = aliases or {}
        self._normalized: dict[str, list[int]] = {}
        for i, c in enumerate(self.channels):
            self._normalized.setdefault(normalize_channel_name(c), []).append(i)

    @classmethod
    def for_sample(cls, sample: Any, aliases: Mapping[str, Any] | None = None) -> ChannelResolver:
        """The resolver of a sample-like object (``channels`` and ``markers`` attributes)."""
        return cls(sample.channels, getattr(sample, "markers", None), aliases)

    def index(self, name: str) -> int:
        """Column of ``name``.

        Raises
        ------
        MarkerError
            Not found or ambiguous; the message lists what the file has.
        """
        found = self._direct(name)
        if found is not None:
            return found
        target = self.aliases.get(name)
        if target is not None and target != name:
            if isinstance(target, str):
                return self.without_aliases().index(target)
            hits = set()
            for other in target:  # a group of synonyms: exactly one channel may match
                if other != name:
                    hit = self.without_aliases().find(other)
                    if hit is not None:
                        hits.add(hit)
            if len(hits) > 1:
                raise MarkerError(f"marker {name!r} is ambiguous: its aliases match channels "
                                  f"{', '.join(self.channels[i] for i in sorted(hits))}")
            if hits:
                return hits.pop()
        found = self._decorated(name)
        if found is not None:
            return found
        listing = ", ".join(f"{c} ({m})" if m else c for c, m in zip(self.channels, self.markers))
        raise MarkerError(f"channel or marker {name!r} not found; the file has: {listing}")

    def find(self, name: str) -> int | None:
        """Like :meth:`index`, None when the name matches no channel (still raises when ambiguous)."""
        try:
            return self.index(name)
        except MarkerError as exc:
            if "not found" in exc.message:
                return None
            raise

    def without_aliases(self) -> ChannelResolver:
        return ChannelResolver(self.channels, self.markers, None)

    def _direct(self, name: str) -> int | None:
        if name in self.channels:
            return self.channels.index(name)
        hits = [i for i, m in enumerate(self.markers) if m == name]
        if len(hits) > 1:
            raise MarkerError(f"marker {name!r} labels several channels: "
                              f"{', '.join(self.channels[i] for i in hits)}")
        return hits[0] if hits else None

    def _decorated(self, name: str) -> int | None:
        key = normalize_channel_name(name)
        hits = self._normalized.get(key, [])
        if len(hits) > 1:
            raise MarkerError(f"{name!r} matches several channels: {', '.join(self.channels[h] for h in hits)}")
        if hits:
            return hits[0]
        folded = key.casefold()
        hits = sorted({i for n, idx in self._normalized.items() if n.casefold() == folded for i in idx}
                      | {i for i, m in enumerate(self.markers) if m and m.casefold() == folded})
        if len(hits) > 1:
            raise MarkerError(f"{name!r} matches several channels: {', '.join(self.channels[h] for h in hits)}")
        return hits[0] if hits else None


def resolve_channel(name: str, sample: Any, aliases: Mapping[str, Any] | None = None) -> int:
    """Index of the channel ``name`` refers to in ``sample`` (see the module docstring)."""
    return ChannelResolver.for_sample(sample, aliases).index(name)
