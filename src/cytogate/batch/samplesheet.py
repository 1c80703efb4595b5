"""Sample sheets: one row per file, with the metadata carried into the outputs.

A sheet is CSV, TSV or Excel with a ``file`` column (paths relative to the
sheet, absolute paths or URLs) and optionally a ``sample`` column; every other
column is metadata (subject, arm, visit, day, site, volume_ul, beads_per_test,
wbc_per_ul ...) copied onto every row of ``counts.csv``.  Sample names become
file names inside the output folder, so they are sanitised here and checked
for duplicates after sanitising.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from ..errors import SampleSheetError
from .inputs import InputFile, is_url

__all__ = ["RESERVED_COLUMNS", "NUMERIC_COLUMNS", "SheetRow", "SampleSheet", "safe_sample_name"]

#: Columns cytogate writes itself; a sheet may not use these names for metadata.
RESERVED_COLUMNS = frozenset(
    {"population", "name", "parent", "count", "parent_count", "freq_parent", "freq_total",
     "cells_per_ul", "absolute_method", "channel", "marker", "scale"}
)
#: Columns that, when present, must hold non-negative numbers (empty cells allowed).
NUMERIC_COLUMNS = ("volume_ul", "beads_per_test", "wbc_per_ul", "lymphocytes_per_ul")

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
_MAX_NAME = 120


def safe_sample_name(name: str) -> str:
    """A sample name usable as a file name that cannot leave the output folder.

    Keeps letters, digits and ``. _ + -``; every other run of characters
    (``/``, ``\\``, spaces, ``:`` ...) becomes one ``_``; leading dots and
    dashes are dropped so no name is hidden, ``..`` or an option.
    """
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii")
    text = _UNSAFE.sub("_", text).lstrip("._-").rstrip("_")[:_MAX_NAME].rstrip("._")
    return text or "sample"


@dataclass(frozen=True)
class SheetRow:
    """One row of a sample sheet.

    Parameters
    ----------
    line : int
        1-based row in the sheet as a spreadsheet shows it (header is row 1).
    file : str
        Absolute path or URL of the file.
    sample : str
        Sanitised sample name.
    metadata : dict
        The other columns, in sheet order, with pandas-inferred types.
    """

    line: int
    file: str
    sample: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def file_name(self) -> str:
        """File name without folders, used to match command-line inputs."""
        return InputFile(self.file).name


def _read_table(path: Path) -> pd.DataFrame:
    import pandas as pd

    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm", ".xls"):
            return pd.read_excel(path, sheet_name=0)
        if suffix in (".tsv", ".tab"):
            sep = "\t"
        elif suffix == ".csv":
            sep = ","
        else:  # .txt and friends: the header line decides
            with open(path, encoding="utf-8-sig") as handle:
                header = handle.readline()
            sep = "\t" if "\t" in header else ";" if header.count(";") > header.count(",") else ","
        return pd.read_csv(path, sep=sep, skipinitialspace=True, encoding="utf-8-sig")
    except FileNotFoundError:
        raise SampleSheetError("sample sheet not found", path=path) from None
    except ImportError as exc:
        raise SampleSheetError(f"cannot read Excel sheets without openpyxl ({exc})", path=path) from None
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SampleSheetError(f"cannot parse sample sheet: {first}", path=path) from None


def _clean(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


@dataclass(frozen=True)
class SampleSheet:
    """A validated sample sheet.

    Parameters
    ----------
    path : str
        Where it was read from.
    columns : tuple of str
        Metadata columns in sheet order (without ``file`` and ``sample``).
    rows : tuple of SheetRow
        In sheet order.
    dtypes : dict
        pandas dtype name of each metadata column, so outputs keep the types.
    """

    path: str
    columns: tuple[str, ...]
    rows: tuple[SheetRow, ...]
    dtypes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, path: str | os.PathLike[str], *, check_files: bool = True) -> SampleSheet:
        """Read and validate a CSV, TSV or Excel sheet.

        Raises
        ------
        SampleSheetError
            Missing ``file`` column, empty or missing files, duplicate files or
            samples, reserved column names, or non-numeric values in
            :data:`NUMERIC_COLUMNS`; the message names the row and column.
        """
        sheet_path = Path(path).expanduser().resolve()
        table = _read_table(sheet_path)
        table.columns = [str(c).strip() for c in table.columns]
        lower = {c.lower(): c for c in table.columns}
        if "file" not in lower:
            raise SampleSheetError(
                f"sample sheet has no 'file' column (columns: {', '.join(table.columns) or 'none'})",
                path=sheet_path,
            )
        if len(set(lower)) != len(table.columns):
            dup = sorted({c for c in table.columns if list(map(str.lower, table.columns)).count(c.lower()) > 1})
            raise SampleSheetError(f"duplicate column names {dup}", path=sheet_path)
        file_col, sample_col = lower["file"], lower.get("sample")
        meta_cols = [c for c in table.columns if c not in (file_col, sample_col)]
        for col in meta_cols:
            if col.lower() in RESERVED_COLUMNS:
                raise SampleSheetError(
                    "column name is reserved for cytogate's own output; rename it", path=sheet_path, column=col
                )
            if col.lower() in NUMERIC_COLUMNS:
                cls._check_numeric(table, col, sheet_path)
        rows: list[SheetRow] = []
        by_file: dict[str, int] = {}
        by_sample: dict[str, int] = {}
        base = sheet_path.parent
        for index, record in enumerate(table.to_dict("records")):
            line = index + 2
            raw_file = _clean(record[file_col])
            if raw_file is None or not str(raw_file).strip():
                raise SampleSheetError("empty file name", path=sheet_path, row=line, column=file_col)
            raw_file = str(raw_file).strip()
            if is_url(raw_file):
                file = raw_file
            else:
                file = str((base / os.path.expanduser(raw_file)).resolve())
                if check_files and not os.path.isfile(file):
                    raise SampleSheetError(f"file {raw_file!r} not found", path=sheet_path, row=line, column=file_col)
            raw_sample = _clean(record[sample_col]) if sample_col else None
            if raw_sample is None or not str(raw_sample).strip():
                raw_sample = InputFile(file).stem
            sample = safe_sample_name(str(raw_sample).strip())
            if file in by_file:
                raise SampleSheetError(
                    f"file {raw_file!r} is listed twice (also row {by_file[file]})",
                    path=sheet_path, row=line, column=file_col,
                )
            if sample in by_sample:
                raise SampleSheetError(
                    f"duplicate sample name {sample!r} (also row {by_sample[sample]})",
                    path=sheet_path, row=line, column=sample_col or file_col,
                )
            by_file[file], by_sample[sample] = line, line
            rows.append(SheetRow(line, file, sample, {c: _clean(record[c]) for c in meta_cols}))
        if not rows:
            raise SampleSheetError("sample sheet has no rows", path=sheet_path)
        dtypes = {c: str(table[c].dtype) for c in meta_cols}
        return cls(str(sheet_path), tuple(meta_cols), tuple(rows), dtypes)

    @staticmethod
    def _check_numeric(table: pd.DataFrame, col: str, sheet_path: Path) -> None:
        import pandas as pd

        values = pd.to_numeric(table[col], errors="coerce")
        bad = (values.isna() & table[col].notna()) | (values < 0)
        if bad.any():
            index = int(np.flatnonzero(bad.to_numpy())[0])
            raise SampleSheetError(
                f"value {table[col].iloc[index]!r} is not a non-negative number",
                path=sheet_path, row=index + 2, column=col,
            )
        table[col] = values.astype(float)

    def match(self, inputs: Sequence[InputFile]) -> list[SheetRow]:
        """The sheet rows for command-line inputs, matched by file name.

        Rows whose file is not among the inputs are left out (the inputs select
        a subset); an input without a row, or a file name that matches two rows
        or two inputs, is an error.
        """
        by_name: dict[str, SheetRow] = {}
        for row in self.rows:
            if row.file_name in by_name:
                raise SampleSheetError(
                    f"file name {row.file_name!r} appears in rows {by_name[row.file_name].line} and "
                    f"{row.line}; inputs cannot be matched by name",
                    path=self.path, row=row.line, column="file",
                )
            by_name[row.file_name] = row
        seen: set[str] = set()
        matched: list[SheetRow] = []
        for entry in inputs:
            if entry.name in seen:
                raise SampleSheetError(f"two inputs are named {entry.name!r}; cannot match them to the sheet",
                                       path=self.path)
            seen.add(entry.name)
            found = by_name.get(entry.name)
            if found is None:
                raise SampleSheetError(f"input {entry.name!r} has no row in the sample sheet", path=self.path)
            matched.append(SheetRow(found.line, entry.path, found.sample, found.metadata))
        return matched
