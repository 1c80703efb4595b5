"""Safe YAML loading with line/column tracking, and the error helpers of the YAML format.

The text is *composed* (not constructed) with PyYAML's ``SafeLoader``, so no
tag is ever acted on: any node carrying a tag outside YAML's plain types
(``!!python/object``, ``!include``, ...) is rejected before anything is built.
Mappings become :class:`LocMap` and sequences :class:`LocList`, which remember
the line and column of every key and item; duplicate keys are errors (PyYAML
would silently keep the last one, hiding a population).

Every problem raises :class:`~cytogate.errors.StrategyError` whose message
starts ``file:line:column:`` and names the population path, e.g.::

    panel.yaml:12:5: unknown key 'parnet' (did you mean 'parent'?) (population /Cells/T cells)
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np
import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..errors import StrategyError

__all__ = [
    "Ctx", "LocList", "LocMap", "Mark", "ParsedPopulation", "as_mapping", "as_number", "as_sequence", "as_string",
    "check_keys", "did_you_mean", "load_located", "matrix", "numbers",
]

_PLAIN_TAGS = {
    "tag:yaml.org,2002:" + name
    for name in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")
}


@dataclass(frozen=True)
class Mark:
    """A 1-based line and column in a source file."""

    line: int
    column: int

    @classmethod
    def of(cls, node: Node) -> Mark:
        return cls(node.start_mark.line + 1, node.start_mark.column + 1)


class LocMap(dict):
    """A dict that remembers where each key (and the mapping itself) was written."""

    mark: Mark
    key_marks: dict[str, Mark]
    value_marks: dict[str, Mark]

    def where(self, key: str) -> Mark:
        return self.value_marks.get(key, self.mark)


class LocList(list):
    """A list that remembers where each item was written."""

    mark: Mark
    item_marks: list[Mark]

    def where(self, index: int) -> Mark:
        return self.item_marks[index] if 0 <= index < len(self.item_marks) else self.mark


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass(frozen=True)
class Ctx:
    """Where in the source a value sits: file, mark and population path."""

    source: str
    mark: Mark | None = None
    population: str | None = None

    def at(self, mark: Mark | None) -> Ctx:
        return Ctx(self.source, mark or self.mark, self.population)

    def inside(self, population: str) -> Ctx:
        return Ctx(self.source, self.mark, population)

    def fail(self, message: str) -> NoReturn:
        where = self.source if self.mark is None else f"{self.source}:{self.mark.line}:{self.mark.column}"
        error = StrategyError(message, path=where, population=self.population)
        error.source_file = self.source  # type: ignore[attr-defined]  # position kept for callers that point at it
        error.line = None if self.mark is None else self.mark.line  # type: ignore[attr-defined]  # position kept for callers that point at it
        error.column = None if self.mark is None else self.mark.column  # type: ignore[attr-defined]  # position kept for callers that point at it
        raise error


def _scalar(node: ScalarNode) -> Any:
    return yaml.SafeLoader.construct_object(_SCALAR_LOADER, node, deep=True)


class _ScalarOnlyLoader(yaml.SafeLoader):
    """A SafeLoader used solely to turn plain scalar nodes into Python values."""

    def __init__(self) -> None:  # no stream: only construct_object on scalar nodes is used
        yaml.constructor.SafeConstructor.__init__(self)


_SCALAR_LOADER = _ScalarOnlyLoader()


_EXPONENT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")
_MAX_NODES = 200_000  # anchors/aliases can expand exponentially ("billion laughs")
_MAX_DEPTH = 100  # nesting of lists/mappings; a strategy needs < 10, and PyYAML's composer recurses per level


class _TooDeep(yaml.YAMLError):
    """Raised by the composer when the document nests deeper than ``_MAX_DEPTH``."""

    def __init__(self, mark: Any) -> None:
        super().__init__(f"nested more than {_MAX_DEPTH} levels deep")
        self.mark = mark


class _DepthLimitedLoader(yaml.SafeLoader):
    """A SafeLoader whose composer refuses deep nesting before it can exhaust the interpreter stack."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        if self._depth >= _MAX_DEPTH:
            raise _TooDeep(self.peek_event().start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _convert(node: Node, ctx: Ctx, budget: list[int] | None = None, active: frozenset[int] = frozenset()) -> Any:
    mark = Mark.of(node)
    budget = budget if budget is not None else [_MAX_NODES]
    budget[0] -= 1
    if budget[0] < 0:
        ctx.at(mark).fail(f"the document expands to more than {_MAX_NODES} values (alias expansion?)")
    if id(node) in active:
        ctx.at(mark).fail("recursive YAML alias")
    if len(active) >= 2 * _MAX_DEPTH:  # aliases nested in aliases can deepen the composed document
        ctx.at(mark).fail(f"the document nests more than {2 * _MAX_DEPTH} levels deep (through aliases)")
    active = active | {id(node)}
    if node.tag not in _PLAIN_TAGS:
        ctx.at(mark).fail(f"YAML tag {node.tag!r} is not allowed (strategies are plain data; nothing is executed)")
    if isinstance(node, ScalarNode):
        if node.style is None and node.tag == "tag:yaml.org,2002:str" and _EXPONENT.match(node.value):
            return float(node.value)  # YAML 1.1 reads 3e4 as text; every cytometrist means a number
        if node.tag == "tag:yaml.org,2002:bool" and node.value.lower() not in ("true", "false"):
            return node.value  # YAML 1.2: yes/no/on/off are words (`on: CD14`, a population named "No")
        try:
            return _scalar(node)
        except yaml.YAMLError as exc:
            ctx.at(mark).fail(f"cannot read value {node.value!r}: {getattr(exc, 'problem', exc)}")
    if isinstance(node, SequenceNode):
        out = LocList(_convert(item, ctx, budget, active) for item in node.value)
        out.mark = mark
        out.item_marks = [Mark.of(item) for item in node.value]
        return out
    if isinstance(node, MappingNode):
        result = LocMap()
        result.mark, result.key_marks, result.value_marks = mark, {}, {}
        for key_node, value_node in node.value:
            key_mark = Mark.of(key_node)
            if key_node.tag == "tag:yaml.org,2002:merge":
                ctx.at(key_mark).fail("YAML merge keys ('<<') are not supported in strategies")
            # keys are names: a plain `1`, `null` or `on` key is the text as written
            key = key_node.value if isinstance(key_node, ScalarNode) and key_node.tag in _PLAIN_TAGS else \
                _convert(key_node, ctx, budget, active)
            if isinstance(key, (LocMap, LocList)):
                ctx.at(key_mark).fail("mapping keys must be plain names, not lists or mappings")
            key = "null" if key is None else str(key) if not isinstance(key, bool) else str(key).lower()
            if key in result:
                first = result.key_marks[key]
                ctx.at(key_mark).fail(f"duplicate key {key!r} (first defined at line {first.line})")
            result[key] = _convert(value_node, ctx, budget, active)
            result.key_marks[key] = key_mark
            result.value_marks[key] = Mark.of(value_node)
        return result
    ctx.at(mark).fail(f"unsupported YAML node {type(node).__name__}")  # pragma: no cover


def load_located(text: str, *, source: str = "<string>") -> Any:
    """Parse YAML text safely into :class:`LocMap` / :class:`LocList` / scalars.

    Parameters
    ----------
    text : str
        The YAML document (exactly one).
    source : str
        File name used in messages.

    Raises
    ------
    StrategyError
        Syntax errors, several documents, disallowed tags, anchors/aliases
        used as merge keys, duplicate keys, nesting deeper than 100 levels.
    """
    ctx = Ctx(source)
    owner = _population_lines(text)
    try:
        nodes = list(yaml.compose_all(text, Loader=_DepthLimitedLoader))
    except _TooDeep as exc:
        where = Mark(exc.mark.line + 1, exc.mark.column + 1)
        Ctx(source, where, owner(where.line)).fail(f"the document is {exc}")
    except RecursionError:  # a last guard: the depth limit above should make this unreachable
        ctx.fail("the document is nested too deeply")
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = Mark(mark.line + 1, mark.column + 1) if mark is not None else None
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        Ctx(source, at, owner(at.line) if at else None).fail(f"YAML syntax error: {problem}")
    except yaml.YAMLError as exc:
        ctx.fail(f"YAML syntax error: {exc}")
    if not nodes:
        ctx.fail("the file is empty")
    if len(nodes) > 1:
        ctx.at(Mark.of(nodes[1])).fail("the file holds several YAML documents; a strategy is one document")
    try:
        return _convert(nodes[0], ctx)
    except RecursionError:  # a last guard, as above
        ctx.fail("the document is nested too deeply")
    except StrategyError as exc:
        line = getattr(exc, "line", None)
        population = owner(line) if line else None
        if line is None or population is None or "population" in exc.location:
            raise
        Ctx(source, Mark(line, getattr(exc, "column", 0)), population).fail(exc.message)


def _population_lines(text: str) -> Any:
    """``line -> population key`` for errors raised before the document is parsed.

    Looks for the top-level ``populations:`` block and its keys by indentation;
    good enough to name the population a syntax error, a bad tag or a duplicate
    key sits in (the key, not yet a path: parents are unknown at that point).
    """
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(r"^populations\s*:", line)), None)
    keys: list[tuple[int, str]] = []
    if start is not None:
        indent = None
        for i in range(start + 1, len(lines)):
            line = lines[i]
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            width = len(line) - len(line.lstrip())
            if width == 0:
                break
            indent = width if indent is None else indent
            match = re.match(r"^\s*(\"[^\"]*\"|'[^']*'|[^:#{}\[\]]+?)\s*:", line)
            if width == indent and match:
                keys.append((i + 1, match.group(1).strip("'\"")))

    def owner(line: int) -> str | None:
        found = [key for at, key in keys if at <= line]
        return found[-1] if found else None

    return owner


# -- coercion of located values (every parser of the YAML formats uses these) --------------
def as_number(value: Any, ctx: Ctx, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        ctx.fail(f"{what} must be a number, got {value!r}")
    if not np.isfinite(value):
        ctx.fail(f"{what} must be finite, got {value!r}")
    return float(value)


def as_string(value: Any, ctx: Ctx, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        ctx.fail(f"{what} must be a non-empty text, got {value!r}")
    return value.strip()


def as_mapping(value: Any, ctx: Ctx, what: str) -> LocMap:
    if not isinstance(value, LocMap):
        ctx.fail(f"{what} must be a mapping (key: value), got {type(value).__name__} {value!r}")
    return value


def as_sequence(value: Any, ctx: Ctx, what: str) -> LocList:
    if not isinstance(value, LocList):
        ctx.fail(f"{what} must be a list, got {type(value).__name__} {value!r}")
    return value


def check_keys(data: LocMap, allowed: tuple[str, ...] | list[str], ctx: Ctx, what: str) -> None:
    """Fail on the first key of ``data`` not in ``allowed``, with a did-you-mean."""
    for key in data:
        if key not in allowed:
            ctx.at(data.key_marks[key]).fail(
                f"unknown key {key!r} in {what}{did_you_mean(key, allowed)}; allowed: {', '.join(allowed)}"
            )


def numbers(value: Any, ctx: Ctx, what: str, length: int | None = None) -> list[float]:
    """A list of finite numbers (optionally of a given length)."""
    seq = as_sequence(value, ctx, what)
    if length is not None and len(seq) != length:
        ctx.fail(f"{what} must have {length} numbers, got {len(seq)}")
    return [as_number(v, ctx.at(seq.where(i)), f"{what}[{i}]") for i, v in enumerate(seq)]


def matrix(value: Any, ctx: Ctx, what: str, shape: tuple[int, int] | None = None) -> list[list[float]]:
    """A list of equal-length rows of numbers."""
    rows = as_sequence(value, ctx, what)
    out = [numbers(r, ctx.at(rows.where(i)), f"{what} row {i + 1}") for i, r in enumerate(rows)]
    if not out or len({len(r) for r in out}) != 1:
        ctx.fail(f"{what} must be a non-empty list of rows of equal length")
    if shape is not None and (len(out), len(out[0])) != shape:
        ctx.fail(f"{what} must be {shape[0]}x{shape[1]}, got {len(out)}x{len(out[0])}")
    return out


@dataclass
class ParsedPopulation:
    """One population as written: key, display name, parent key and gate."""

    key: str
    name: str
    parent: str | None
    gate: Any
    ctx: Ctx
    parent_ctx: Ctx
    refs: tuple[tuple[str, Ctx], ...] = ()
    path: str = ""
    optional: bool = False
    optional_dimensions: tuple[str, ...] = ()
    follow: Any = None  # (True / False / settings mapping, Ctx) when the population says ``follow:``
