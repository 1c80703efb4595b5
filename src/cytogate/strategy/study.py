"""Study files (``cytogate_study: 1``): several panels, one sample sheet, one run.

::

    cytogate_study: 1
    name: Lupus PD, phase 2b
    samples: samples.csv              # relative to this file; one row per FCS file
    panel_column: panel               # which strategy gates each row
    panels:
      T: strategies/t_cells.yaml
      B: strategies/b_cells.yaml
      DC: strategies/dendritic_cells.yaml
    follow: {T: refs/T_ref.fcs}        # optional: per panel, the reference file its gates were drawn on
    overrides: overrides.yaml          # optional: per-sample gate corrections (cytogate_overrides: 1)

Every path is relative to the study file.  :func:`load_study` checks the
document's shape (errors name ``file:line:column``) and that every file it
names exists; the sample sheet's rows are checked against the panels by
:mod:`cytogate.batch.study`.  A study file is told from other YAML by its
first key (:func:`is_study_text`), never by its name.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import StrategyError
from .yaml_schema import Ctx, LocMap, Mark, as_mapping, as_string, check_keys, load_located

__all__ = ["STUDY_VERSION", "Study", "is_study_file", "is_study_text", "load_study"]

STUDY_VERSION = 1
_KEYS = ("cytogate_study", "name", "description", "samples", "panel_column", "panels", "follow", "overrides")
_FIRST_KEY = re.compile(r"^(?:\ufeff)?(?:[ \t]*(?:#[^\n]*)?\n)*[\"']?cytogate_study[\"']?[ \t]*:", re.ASCII)


def is_study_text(text: str) -> bool:
    """Whether a document's first key is ``cytogate_study`` (comments and blank lines before it allowed)."""
    return _FIRST_KEY.match(text) is not None


def is_study_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a readable study file (False for anything else, including unreadable files)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(65536)
    except OSError:
        return False
    return is_study_text(head.decode("utf-8", "replace"))


@dataclass(frozen=True)
class Study:
    """A loaded study file: absolute paths, in the order written."""

    source: str
    sha256: str
    name: str
    samples: str
    panel_column: str
    panels: dict[str, str]  # panel name -> strategy file
    follow: dict[str, str] = field(default_factory=dict)  # panel name -> reference FCS file
    overrides: str | None = None
    marks: dict[str, Mark] = field(default_factory=dict, compare=False, repr=False)  # "panels.T" -> its key

    def ctx(self, where: str) -> Ctx:
        """The location of one entry (``samples``, ``panels.T``, ...) for messages."""
        return Ctx(self.source, self.marks.get(where))

    def manifest_entry(self) -> dict[str, Any]:
        return {"path": self.source, "sha256": self.sha256, "name": self.name, "samples": self.samples,
                "panel_column": self.panel_column, "panels": dict(self.panels), "follow": dict(self.follow),
                "overrides": self.overrides}


def _file(value: Any, ctx: Ctx, what: str, base: Path) -> str:
    text = as_string(value, ctx, what)
    path = (base / os.path.expanduser(text)).resolve()
    if not path.is_file():
        ctx.fail(f"{what} {text!r} not found (looked for {path})")
    return str(path)


def _per_panel(doc: LocMap, key: str, ctx: Ctx, base: Path, marks: dict[str, Mark],
               what: str) -> dict[str, str]:
    table = as_mapping(doc[key], ctx.at(doc.where(key)), f"'{key}'")
    out = {}
    for panel, value in table.items():
        marks[f"{key}.{panel}"] = table.key_marks[panel]
        out[str(panel)] = _file(value, ctx.at(table.where(panel)), f"{what} of panel {panel!r}", base)
    return out


def load_study(path: str | os.PathLike[str]) -> Study:
    """Load a study file and check that every file it names exists.

    Raises
    ------
    StrategyError
        Unreadable file, wrong version, unknown or missing keys, a referenced
        file that does not exist, ``follow`` naming a panel not in ``panels``
        (``file:line:column``).
    """
    source = str(Path(path).resolve())
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise StrategyError(f"study file not found: {path}") from None
    except OSError as exc:
        raise StrategyError(f"cannot read study file: {exc.strerror}", path=source) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise StrategyError(f"study file is not UTF-8 text (byte {exc.start})", path=source) from None
    ctx = Ctx(source)
    doc = load_located(text, source=source)
    if not isinstance(doc, LocMap) or "cytogate_study" not in doc:
        ctx.fail("not a study file: the first key must be 'cytogate_study: 1'")
    ctx = ctx.at(doc.mark)
    check_keys(doc, _KEYS, ctx, "the study file")
    version = doc["cytogate_study"]
    if version != STUDY_VERSION or isinstance(version, bool):
        ctx.at(doc.where("cytogate_study")).fail(
            f"unsupported cytogate_study version {version!r}; this cytogate reads version {STUDY_VERSION}")
    for key in ("samples", "panels"):
        if key not in doc:
            ctx.fail(f"a study needs {key!r}")
    base = Path(source).parent
    marks = dict(doc.key_marks)
    name = as_string(doc["name"], ctx.at(doc.where("name")), "'name'") if "name" in doc else Path(source).stem
    samples = _file(doc["samples"], ctx.at(doc.where("samples")), "sample sheet", base)
    column = doc.get("panel_column", "panel")
    column = as_string(column, ctx.at(doc.where("panel_column")), "'panel_column'")
    panels = _per_panel(doc, "panels", ctx, base, marks, "strategy")
    if not panels:
        ctx.at(doc.where("panels")).fail("'panels' must name at least one panel: NAME: strategy file")
    follow = _per_panel(doc, "follow", ctx, base, marks, "follow reference") if "follow" in doc else {}
    for panel in follow:
        if panel not in panels:
            ctx.at(marks[f"follow.{panel}"]).fail(
                f"follow names panel {panel!r}, which is not in 'panels' ({', '.join(panels)})")
    overrides = None
    if "overrides" in doc:
        overrides = _file(doc["overrides"], ctx.at(doc.where("overrides")), "overrides file", base)
    return Study(source, hashlib.sha256(raw).hexdigest(), name, samples, column, panels, follow, overrides, marks)
