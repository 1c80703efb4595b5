"""Any gating document, its format told from its content: :func:`open_document`.

A strategy file may be cytogate YAML, Gating-ML 2.0, a FlowJo 10 ``.wsp`` or
a FlowJo 9 Mac XML workspace, whatever its name ends with.  Strategies come
back as a :class:`~cytogate.strategy.Strategy`; workspaces as a
:class:`~cytogate.strategy.workspace.Workspace`, which holds one strategy per
sample.
"""

from __future__ import annotations

import importlib
import os
import re
from pathlib import Path

from ..errors import StrategyError
from .gatingml_read import read_gatingml
from .tree import Strategy
from .workspace import Workspace, open_workspace

__all__ = ["Document", "document_kind", "open_document", "strategy_of"]

Document = Strategy | Workspace

_FIRST_ELEMENT = re.compile(rb"<([A-Za-z_][\w.:-]*)")
_GATINGML = "Gating-ML"
_WORKSPACE = "Workspace"


def document_kind(raw: bytes) -> str:
    """``yaml``, ``gatingml``, ``workspace`` or ``xml:<root>`` (other XML) from a document's bytes."""
    head = raw.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"<"):
        return "yaml"
    body = re.sub(rb"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>", b"", head[:65536], flags=re.DOTALL)
    match = _FIRST_ELEMENT.search(body)
    root = "" if match is None else match.group(1).decode("utf-8", "replace").rsplit(":", 1)[-1]
    if root == _GATINGML:
        return "gatingml"
    if root == _WORKSPACE:
        return "workspace"
    return f"xml:{root}"


def open_document(path: str | os.PathLike[str]) -> Document:
    """Load a strategy or a workspace from a file, detected from its content.

    Raises
    ------
    StrategyError
        Unreadable file; XML that is neither Gating-ML 2.0 nor a FlowJo
        workspace; any error of the format's reader (naming file and population).
    """
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise StrategyError(f"strategy file not found: {source}") from None
    except OSError as exc:
        raise StrategyError(f"cannot read strategy: {exc.strerror}", path=source) from None
    kind = document_kind(raw)
    if kind == "workspace":
        return open_workspace(source, raw=raw)
    if kind.startswith("xml:"):
        raise StrategyError(f"XML document with root element <{kind[4:] or '?'}> is neither Gating-ML 2.0 "
                            "(<gating:Gating-ML>) nor a FlowJo workspace (<Workspace>)", path=source)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise StrategyError(f"strategy is not UTF-8 text (byte {exc.start})", path=source) from None
    if kind == "gatingml":
        return read_gatingml(text, source=source)
    yaml_format = importlib.import_module("cytogate.strategy.yaml_format")
    strategy: Strategy = yaml_format.load_yaml_strategy(text, source=source)
    return strategy


def strategy_of(document: Document, *, sample: str | None = None) -> tuple[Strategy, str | None]:
    """The single strategy a document stands for, and the workspace sample name it came from.

    A workspace needs ``sample`` (name or id) unless it holds one sample.
    """
    if isinstance(document, Strategy):
        if sample is not None:
            raise StrategyError("a sample can be chosen only from a FlowJo workspace", path=document.source)
        return document, None
    if sample is None:
        if len(document.samples) != 1:
            names = ", ".join(f"{s.name} (id {s.id})" for s in document.samples)
            raise StrategyError(f"the workspace holds {len(document.samples)} samples; choose one with "
                                f"--sample: {names}", path=document.path)
        sample = document.samples[0].id
    imported = document.strategy_for(sample)
    return imported.strategy, imported.sample.name
