"""Spillover matrices from text files: CSV/TSV exports and FlowJo-Mac ``compmatrix`` files.

Layouts understood (detected from content, never from the file name):

- a header row of detector names followed by ``n`` rows of ``n`` numbers
  (FlowKit and FlowJo CSV/TSV exports; a leading ``#`` on the header is allowed);
- the same with a row label before each row's numbers, and optionally an empty
  first header cell (R ``write.table``, FlowJo "export with names"); rows are
  put in header order by their labels;
- any number of preamble lines before the header (FlowJo-Mac ``compmatrix``: a
  matrix name line and a ``<`` ``>`` line), with ``\\r``, ``\\n`` or ``\\r\\n``
  line endings and tab, comma, semicolon or blank separators (quoted names may
  contain the separator).
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np

from ..errors import CompensationError
from .matrix import Spillover

__all__ = ["spillover_from_file", "spillover_from_text"]

_MAX_BYTES = 16 << 20  # a spillover matrix file is a few kB; refuse to slurp anything huge


def spillover_from_file(path: str | PathLike[str]) -> Spillover:
    """Read a spillover matrix from a CSV/TSV/``compmatrix`` text file.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    Spillover
        With ``source`` set to the path.

    Raises
    ------
    CompensationError
        The file cannot be read, has no header of names, a row of the wrong
        length or a non-number (the message names the file and line), or the
        matrix is not square.
    """
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            raw = fh.read(_MAX_BYTES + 1)
    except OSError as exc:
        raise CompensationError(f"cannot read spillover file: {exc.strerror or exc}", path=p) from None
    if len(raw) > _MAX_BYTES:
        raise CompensationError("file is too large to be a spillover matrix", path=p)
    if b"\x00" in raw:
        raise CompensationError("binary file, not a text spillover matrix", path=p)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return spillover_from_text(text, source=str(p))


def spillover_from_text(text: str, *, source: str = "text") -> Spillover:
    """Parse the text of a spillover matrix file (see the module docstring for layouts).

    Parameters
    ----------
    text : str
        The file contents.
    source : str
        Named in error messages and stored as ``Spillover.source``.
    """
    lines = [(number, line) for number, line in enumerate(re.split(r"\r\n|\r|\n", text), start=1) if line.strip()]
    if not lines:
        raise CompensationError("empty spillover file", path=source)
    for position, (number, line) in enumerate(lines):
        header = _header_names(line)
        if header is None:
            continue
        rows = lines[position + 1 :]
        if not rows or not any(_is_number(f) for f in _split(rows[0][1])):
            continue  # a line of words not followed by a row with numbers: preamble
        return _read_matrix(header, number, rows, source)
    raise CompensationError(
        "no header row of detector names followed by rows of numbers", path=source, line=lines[0][0]
    )


def _split(line: str) -> list[str]:
    """Fields of one line; the separator is tab, comma, semicolon or blanks, in that preference."""
    for sep in ("\t", ",", ";"):
        if sep in line:
            fields = next(csv.reader([line], delimiter=sep, skipinitialspace=True))
            break
    else:
        fields = next(csv.reader([line.strip()], delimiter=" ", skipinitialspace=True))
    fields = [f.strip() for f in fields]
    while fields and fields[-1] == "":  # trailing separator
        fields.pop()
    return fields


def _is_number(field: str) -> bool:
    try:
        return math.isfinite(float(field))
    except ValueError:
        return False


def _header_names(line: str) -> list[str] | None:
    """The detector names if ``line`` is a header (no field is a number), else None."""
    stripped = line.lstrip()
    if stripped.startswith("#"):
        stripped = stripped[1:]
    fields = _split(stripped)
    if fields and fields[0] == "":
        fields = fields[1:]  # empty corner cell above the row labels
    if len(fields) < 1 or any(f == "" or _is_number(f) for f in fields):
        return None
    return fields


def _numbers_or_label(fields: Sequence[str]) -> tuple[str | None, list[float] | None]:
    """(row label or None, numbers) of a data row, or (None, None) if it is not one."""
    if not fields:
        return None, None
    label = None
    if not _is_number(fields[0]):
        label, fields = fields[0], fields[1:]
    try:
        values = [float(f) for f in fields]
    except ValueError:
        return None, None
    if not values:
        return None, None
    return label, values


def _read_matrix(header: list[str], header_line: int, rows: list[tuple[int, str]], source: str) -> Spillover:
    n = len(header)
    if len(set(header)) != n:
        dup = sorted({h for h in header if header.count(h) > 1})
        raise CompensationError(f"header names a detector twice: {', '.join(dup)}", path=source, line=header_line)
    labels: list[str | None] = []
    values: list[list[float]] = []
    for number, line in rows:
        fields = _split(line)
        label, numbers = _numbers_or_label(fields)
        if numbers is None:
            bad = next((f for f in fields[1:] if not _is_number(f)), fields[0] if fields else "")
            raise CompensationError(f"expected a row of numbers, found {bad!r}", path=source, line=number)
        if len(numbers) != n:
            raise CompensationError(
                f"row has {len(numbers)} values but the header names {n} detectors ({', '.join(header)})",
                path=source,
                line=number,
            )
        if not all(math.isfinite(v) for v in numbers):
            raise CompensationError("row has a non-finite value", path=source, line=number)
        labels.append(label)
        values.append(numbers)
    if len(values) != n:
        raise CompensationError(
            f"matrix is not square: {len(values)} rows for {n} detectors ({', '.join(header)})",
            path=source,
            line=rows[-1][0],
        )
    matrix = np.array(values, dtype=np.float64)
    if any(label is not None for label in labels):
        named = [label for label in labels if label is not None]
        if len(named) != len(labels) or sorted(named) != sorted(header):
            raise CompensationError(
                f"row labels {', '.join(str(x) for x in labels)} do not match the header {', '.join(header)}",
                path=source,
                line=rows[0][0],
            )
        order = [labels.index(name) for name in header]
        matrix = matrix[order]
    return Spillover(matrix, tuple(header), source)
