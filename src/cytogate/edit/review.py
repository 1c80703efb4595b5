"""Per-sample overrides written from the editor: the overrides file as a round-trip document.

With ``cytogate edit ... --overrides FILE`` a gate can be corrected for the
sample on screen instead of in the template: the correction becomes one entry
of a ``cytogate_overrides: 1`` file (:mod:`cytogate.strategy.overrides`) with
its reason, author and date, exactly what ``cytogate run --overrides FILE``
applies.  The file is held in ruamel.yaml's round-trip form, like the
strategy, so entries the editor did not touch keep their comments and
spelling.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from ..errors import StrategyError
from .document import merge_value, plain

__all__ = ["NEW_OVERRIDES", "OverridesDocument", "check_entry_text"]

#: Text of an overrides file the editor starts.
NEW_OVERRIDES = """\
cytogate_overrides: 1
# per-sample gate corrections written by `cytogate edit`: each says who, when and why
overrides: []
"""


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def check_entry_text(value: Any, what: str) -> str:
    """A reason or author as written: non-empty text on one line."""
    if not isinstance(value, str) or not value.strip():
        raise StrategyError(f"an override needs its {what} (every change says who, when and why)")
    text = " ".join(value.split())
    return text


class OverridesDocument:
    """An overrides file being edited: entries found and changed by (sample, population)."""

    def __init__(self, text: str, *, source: str) -> None:
        self.source = source
        try:
            self.root = _yaml().load(text)
        except YAMLError as exc:
            raise StrategyError(f"cannot read the overrides file: {exc}", path=source) from None
        if not isinstance(self.root, CommentedMap):
            raise StrategyError("an overrides file is a mapping starting with 'cytogate_overrides: 1'", path=source)
        if self.root.get("overrides") is None:
            self.root["overrides"] = CommentedSeq()
        if not isinstance(self.root["overrides"], list):
            raise StrategyError("'overrides' must be a list of overrides", path=source)
        if isinstance(self.root["overrides"], CommentedSeq) and self.root["overrides"].fa.flow_style():
            self.root["overrides"].fa.set_block_style()  # entries are written one key a line

    @property
    def items(self) -> list[Any]:
        items: list[Any] = self.root["overrides"]
        return items

    def text(self) -> str:
        out = io.StringIO()
        _yaml().dump(self.root, out)
        return out.getvalue()

    def find(self, sample: str, population: str) -> int | None:
        for i, item in enumerate(self.items):
            if isinstance(item, Mapping) and item.get("sample") == sample and item.get("population") == population:
                return i
        return None

    def entry(self, sample: str, population: str) -> dict[str, Any] | None:
        """The entry as plain JSON-able data (the date as ISO text), or None."""
        i = self.find(sample, population)
        if i is None:
            return None
        data = plain({k: v for k, v in self.items[i].items()})
        date = self.items[i].get("date")
        if isinstance(date, (dt.date, dt.datetime)):
            data["date"] = date.isoformat()
        return {k: data.get(k) for k in ("gate", "reason", "author", "date")}

    def set(self, sample: str, population: str, gate: Any, *, reason: str, author: str, date: str) -> None:
        """Add or change the override of ``population`` on ``sample`` (its other entries are kept as written)."""
        i = self.find(sample, population)
        if i is None:
            item = CommentedMap([("sample", sample), ("population", population)])
            item["gate"] = merge_value(None, gate, flow=True) if isinstance(gate, Mapping) else gate
            item["reason"], item["author"], item["date"] = reason, author, dt.date.fromisoformat(date)
            self.items.append(item)
            return
        item = self.items[i]
        item["gate"] = merge_value(item.get("gate"), gate, flow=True) if isinstance(gate, Mapping) else gate
        for key, value in (("reason", reason), ("author", author)):
            if item.get(key) != value:
                item[key] = value
        old = item.get("date")
        if (old.isoformat() if isinstance(old, (dt.date, dt.datetime)) else str(old)) != date:
            item["date"] = dt.date.fromisoformat(date)

    def remove(self, sample: str, population: str) -> bool:
        i = self.find(sample, population)
        if i is None:
            return False
        del self.items[i]
        return True


def _bound(value: float) -> float | None:
    return None if value in (float("inf"), float("-inf")) else _round(value)


def _round(value: float) -> float:
    return float(f"{float(value):.6g}")


def start_gate(yaml_gate: Mapping[str, Any], spec: Any, fitted: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The gate an override of one population starts from: where the template's gate is on this sample.

    ``yaml_gate`` is the template's gate as written, ``spec`` its gate spec,
    ``fitted`` the static gate it fitted on this sample (data-driven gates).
    A static gate as written; a data-driven one at its fitted position; a
    quadrant cell as the rectangle it covers.  None for gates an override
    cannot replace (booleans, ratio axes).
    """
    from ..gates.registry import gate_from_dict
    from .geometry import static_gate

    kind = next(iter(yaml_gate))
    static = spec if not spec.needs_fit else (None if fitted is None else gate_from_dict(dict(fitted)))
    if static is None or kind in ("and", "or", "not"):
        return None
    if kind != "quadrant" and not spec.needs_fit:
        return dict(yaml_gate)
    if kind != "quadrant":
        return static_gate(yaml_gate, fitted or {})
    box = static.box()
    names = [getattr(d, "name", None) for d in static.dimensions]
    if box is None or not all(isinstance(n, str) for n in names):
        return None
    bounds = {}
    for name, lo, hi in zip(names, box[0], box[1]):
        b = {k: v for k, v in (("min", _bound(lo)), ("max", _bound(hi))) if v is not None}
        bounds[name] = b
    return {"rectangle" if len(bounds) > 1 else "range": bounds}
