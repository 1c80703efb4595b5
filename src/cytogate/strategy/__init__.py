"""Gating strategies: the population tree and its file formats.

:func:`load_strategy` reads a path or text and detects the format from the
content: XML (Gating-ML 2.0, or a FlowJo workspace holding one sample) or YAML
(cytogate's own format).  :func:`open_document` also returns whole FlowJo
workspaces (one strategy per sample).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from ..errors import StrategyError
from .documents import document_kind, open_document, strategy_of
from .gatingml_read import read_gatingml
from .save import convert_strategy, save_strategy
from .tree import ROOT, Population, SpectrumMatrix, Strategy, TransformSpec, join_path

__all__ = ["load_strategy", "open_document", "save_strategy", "convert_strategy", "Strategy", "Population", "TransformSpec", "SpectrumMatrix", "ROOT", "join_path"]


def _looks_like_xml(text: str) -> bool:
    return text.lstrip("\ufeff \t\r\n").startswith("<")


def _text_workspace(text: str) -> Any:
    from .workspace import open_workspace

    return open_workspace("<text>", raw=text.encode("utf-8"))


def load_strategy(path_or_text: str | os.PathLike[str]) -> Strategy:
    """Load a gating strategy from a file path or from its text.

    Parameters
    ----------
    path_or_text : str or path-like
        A path to a Gating-ML 2.0 XML or cytogate YAML file, or the text itself.
        The format is detected from the content, not the file name.

    Raises
    ------
    StrategyError
        Unreadable, unsafe or invalid strategy; the message names the file.
    """
    source: str | None = None
    if isinstance(path_or_text, os.PathLike) or (
        isinstance(path_or_text, str) and "\n" not in path_or_text and not _looks_like_xml(path_or_text)
        and len(path_or_text) < 4096 and Path(path_or_text).is_file()
    ):
        source = str(path_or_text)
        try:
            raw = Path(source).read_bytes()
        except OSError as exc:
            raise StrategyError(f"cannot read strategy: {exc.strerror}", path=source) from None
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise StrategyError(f"strategy is not UTF-8 text (byte {exc.start})", path=source) from None
    elif isinstance(path_or_text, str):
        if "\n" not in path_or_text and ":" not in path_or_text and not _looks_like_xml(path_or_text):
            # one line, no YAML mapping, no XML: it was meant as a path
            raise StrategyError(f"strategy file not found: {path_or_text}")
        text = path_or_text
    else:
        raise StrategyError(f"load_strategy expects a path or text, got {type(path_or_text).__name__}")
    if _looks_like_xml(text):
        if document_kind(text.encode("utf-8")) == "workspace":  # a workspace of one sample is one strategy
            return strategy_of(open_document(source) if source else _text_workspace(text))[0]
        return read_gatingml(text, source=source)
    try:
        yaml_format = importlib.import_module("cytogate.strategy.yaml_format")
    except ModuleNotFoundError as exc:
        if exc.name != "cytogate.strategy.yaml_format":
            raise
        raise StrategyError("YAML strategies not supported yet (only Gating-ML 2.0 XML)", path=source) from None
    return yaml_format.load_yaml_strategy(text, source=source)
