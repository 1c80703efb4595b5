"""The strategy file as a round-trip YAML document: edits touch only what they change.

ruamel.yaml keeps comments, key order, flow/block style and the spelling of
every scalar it is not asked to change.  :func:`merge_value` goes further and
leaves a node alone when the new value equals the old one (``3e4`` stays
``3e4`` when the edit sends ``30000``), so a saved file differs from the
original only on the lines of the gates that really moved.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from ..errors import StrategyError
from ..strategy.yaml_gates import POPULATION_KEYS

__all__ = ["NEW_STRATEGY", "StrategyDocument", "merge_lines", "merge_value", "plain"]

#: Text of a strategy started from nothing (no population until the first gate is drawn).
NEW_STRATEGY = """\
cytogate_strategy: 1
name: New strategy
compensation: file                  # each file's $SPILLOVER / SPILL
transform: {logicle: {T: 262144, W: 0.5, M: 4.5, A: 0}}
scatter_transform: none             # FSC/SSC gates in instrument units

# populations are added as gates are drawn in `cytogate edit`
populations: {}
"""

# Population keys that are not the gate: the YAML format's own list.
_NON_GATE_KEYS = POPULATION_KEYS
_BOOLEAN_KINDS = ("and", "or", "not")


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long flow line the edit did not touch
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def plain(node: Any) -> Any:
    """A ruamel node as plain JSON-able Python (dict, list, str, int, float, bool, None)."""
    if isinstance(node, Mapping):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return str(node)


def _same_scalar(old: Any, new: Any) -> bool:
    if isinstance(old, bool) or isinstance(new, bool) or old is None or new is None:
        return type(old) is type(new) and old == new
    if isinstance(old, (int, float)) and isinstance(new, (int, float)):
        return float(old) == float(new)
    return isinstance(old, str) and isinstance(new, str) and str(old) == new


def _fresh(value: Any, *, flow: bool) -> Any:
    """A new node for a plain value; containers in flow style when ``flow`` (as the gate lines are written)."""
    if isinstance(value, Mapping):
        node = CommentedMap((str(k), _fresh(v, flow=flow)) for k, v in value.items())
        if flow:
            node.fa.set_flow_style()
        return node
    if isinstance(value, (list, tuple)):
        seq = CommentedSeq(_fresh(v, flow=flow) for v in value)
        if flow:
            seq.fa.set_flow_style()
        return seq
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    return value


def _is_flow(node: Any) -> bool:
    return bool(getattr(getattr(node, "fa", None), "flow_style", lambda: False)())


def merge_value(old: Any, new: Any, *, flow: bool = True) -> Any:
    """``new`` written over ``old``, reusing every node of ``old`` whose value did not change."""
    if isinstance(old, CommentedMap) and isinstance(new, Mapping):
        child_flow = _is_flow(old) or flow
        if list(old.keys()) == [str(k) for k in new]:
            for key, value in new.items():
                merged = merge_value(old[key], value, flow=child_flow)
                if merged is not old[key]:
                    old[key] = merged
            return old
        for key in [k for k in old if k not in new]:
            del old[key]
        for pos, (key, value) in enumerate(new.items()):
            key = str(key)
            if key in old:
                merged = merge_value(old[key], value, flow=child_flow)
                if merged is not old[key]:
                    old[key] = merged
                if list(old.keys()).index(key) != pos:  # keep the new order
                    node = old.pop(key)
                    old.insert(pos, key, node)
            else:
                old.insert(pos, key, _fresh(value, flow=child_flow))
        return old
    if isinstance(old, CommentedSeq) and isinstance(new, (list, tuple)):
        if len(old) == len(new):
            for i, value in enumerate(new):
                merged = merge_value(old[i], value, flow=flow)
                if merged is not old[i]:
                    old[i] = merged
            return old
        return _fresh(new, flow=_is_flow(old) or flow)
    if not isinstance(old, (Mapping, list)) and not isinstance(new, (Mapping, list, tuple)) \
            and _same_scalar(old, new):
        return old
    return _fresh(new, flow=flow)


class StrategyDocument:
    """A YAML strategy's text held as a round-trip tree, edited population by population."""

    def __init__(self, text: str, *, source: str) -> None:
        self.source = source
        self._text: str | None = None  # the dump of the current tree, until the next edit
        try:
            self.root = _yaml().load(text)
        except YAMLError as exc:  # ruamel's own parse errors carry the line
            raise StrategyError(f"not a YAML strategy: {exc}", path=source) from None
        if not isinstance(self.root, CommentedMap) or not isinstance(self.root.get("populations"), CommentedMap):
            raise StrategyError("the editor needs a cytogate YAML strategy with 'populations' (Gating-ML and "
                                "FlowJo files can be converted with `cytogate convert`)", path=source)

    @property
    def populations(self) -> CommentedMap:
        return self.root["populations"]

    def text(self) -> str:
        """The tree as YAML (dumped once per state: ruamel's emitter is the slow part of an edit)."""
        if self._text is None:
            out = io.StringIO()
            _yaml().dump(self.root, out)
            self._text = out.getvalue()
        return self._text

    def changed(self) -> None:
        """Say the tree was edited from outside this class's methods."""
        self._text = None

    # -- reading -------------------------------------------------------------------
    def gate_kind(self, key: str) -> str:
        spec = self.populations[key]
        kinds = [k for k in spec if k not in _NON_GATE_KEYS]
        if len(kinds) != 1:
            raise StrategyError(f"population {key!r} has {len(kinds)} gate keys", path=self.source)
        return str(kinds[0])

    def gate(self, key: str) -> dict[str, Any]:
        """The gate of population ``key`` as written: ``{kind: value}`` in plain JSON-able values."""
        kind = self.gate_kind(key)
        return {kind: plain(self.populations[key][kind])}

    def entry(self, key: str) -> dict[str, Any]:
        return plain(self.populations[key])

    # -- editing -------------------------------------------------------------------
    def set_gate(self, key: str, gate: Mapping[str, Any]) -> None:
        """Replace population ``key``'s gate (``{kind: value}``), touching only the values that changed."""
        self._text = None
        if not isinstance(gate, Mapping) or len(gate) != 1:
            raise StrategyError("a gate is one mapping {kind: value}, e.g. {'range': {'CD3': {'min': 0.4}}}",
                                path=self.source)
        (kind, value), = gate.items()
        spec = self.populations[key]
        old_kind = self.gate_kind(key)
        if kind == old_kind:
            merged = merge_value(spec[kind], value)
            if merged is not spec[kind]:
                spec[kind] = merged
            return
        pos = list(spec.keys()).index(old_kind)
        del spec[old_kind]
        spec.insert(pos, str(kind), _fresh(value, flow=True))

    def set_name(self, key: str, name: str) -> None:
        """Give population ``key`` a display name (its key, and so every reference to it, stays)."""
        self._text = None
        spec = self.populations[key]
        if name == key and "name" in spec:
            del spec["name"]
        elif name != key:
            if "name" in spec:
                spec["name"] = name
            else:
                spec.insert(1 if "parent" in spec else 0, "name", name)

    def rename_reference(self, old: str, new: str) -> None:
        """Point every ``parent:`` and boolean reference at ``old`` to ``new``."""
        self._text = None
        for spec in self.populations.values():
            if spec.get("parent") == old:
                spec["parent"] = new
            for kind in _BOOLEAN_KINDS:
                refs = spec.get(kind)
                if isinstance(refs, str) and refs == old:
                    spec[kind] = new
                elif isinstance(refs, list):
                    for i, ref in enumerate(refs):
                        if ref == old:
                            refs[i] = new
                        elif isinstance(ref, MutableMapping) and ref.get("not") == old:
                            ref["not"] = new

    def add(self, key: str, *, parent: str | None, gate: Mapping[str, Any], after: str | None = None) -> None:
        """A new population entry (block style, its gate on one flow line), after ``after`` or at the end."""
        self._text = None
        if key in self.populations:
            raise StrategyError(f"population id {key!r} already exists", path=self.source)
        if not self.populations:  # `populations: {}` of a new file: entries go in block style
            self.root["populations"] = CommentedMap()
        spec = CommentedMap()
        if parent is not None:
            spec["parent"] = parent
        (kind, value), = gate.items()
        spec[str(kind)] = _fresh(value, flow=True)
        keys = list(self.populations.keys())
        pos = keys.index(after) + 1 if after in keys else len(keys)
        self.populations.insert(pos, key, spec)

    def delete(self, keys: Iterator[str] | list[str]) -> None:
        self._text = None
        for key in keys:
            if key in self.populations:
                del self.populations[key]


def merge_lines(base: str, ours: str, theirs: str) -> str:
    """Three-way merge by lines: ``theirs`` (the edited dump) applied to ``ours`` (the file as written).

    ``base`` is the dump of the file before the edit.  ruamel.yaml may write a
    few untouched lines differently from how the file spells them (a flow
    mapping inside a flow list, a wrapped flow line); those regions keep the
    file's spelling unless the edit changed them too.
    """
    import difflib

    b, o, t = base.splitlines(True), ours.splitlines(True), theirs.splitlines(True)

    def matches(other: list[str]) -> dict[int, int]:
        found: dict[int, int] = {}
        for i, j, size in difflib.SequenceMatcher(None, b, other, autojunk=False).get_matching_blocks():
            found.update((i + k, j + k) for k in range(size))
        return found

    in_ours, in_theirs = matches(o), matches(t)
    out: list[str] = []
    ib = io = it = 0
    for line in [k for k in range(len(b)) if k in in_ours and k in in_theirs] + [len(b)]:
        ob, oo, ot = (line, in_ours[line], in_theirs[line]) if line < len(b) else (len(b), len(o), len(t))
        chunk_b, chunk_o, chunk_t = b[ib:ob], o[io:oo], t[it:ot]
        out += chunk_t if chunk_o == chunk_b or chunk_t != chunk_b else chunk_o
        if line < len(b):
            out.append(o[oo])
            ib, io, it = ob + 1, oo + 1, ot + 1
    return "".join(out)
