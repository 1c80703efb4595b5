"""One output table written from per-sample pieces, in bounded memory.

A run's tables are assembled sample by sample (:mod:`cytogate.batch.assemble`),
so the driver never holds every sample's rows.  :class:`CsvStream` appends
each piece's rows; :class:`ParquetStream` keeps at most
:data:`ROW_GROUP_ROWS` rows and writes them as one row group.

The bytes depend only on the table, never on how it was cut into pieces:
CSV values are formatted one by one, and Parquet row groups always hold
exactly ``ROW_GROUP_ROWS`` rows (the last one the rest).  A table of at most
``ROW_GROUP_ROWS`` rows is written in one call with the metadata a
whole-table conversion gives it, exactly as :func:`cytogate.atomic.write_parquet`
writes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, BinaryIO

from ..errors import BatchError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["ROW_GROUP_ROWS", "CsvStream", "ParquetStream"]

#: Rows per Parquet row group of a streamed table: a few MB of statistics rows in Arrow form, so the
#: driver's peak memory hardly depends on the number of samples.
ROW_GROUP_ROWS = 1 << 14
_MAX_PIECES = 256


def _same_columns(first: list[str] | None, frame: pd.DataFrame, name: str) -> list[str]:
    columns = [str(c) for c in frame.columns]
    if first is not None and columns != first:
        # every piece comes from the same run with the same options; a difference is a bug
        raise BatchError(f"cannot assemble {name}: a sample's columns {columns} differ from the first's {first}")
    return columns


class CsvStream:
    """Rows appended to a CSV file as pieces arrive; the header comes from the first piece.

    Written exactly as :func:`cytogate.atomic.write_csv` writes the whole table
    (no index, ``\\n`` line ends, full float precision).
    """

    def __init__(self, handle: BinaryIO, name: str) -> None:
        self.handle, self.name = handle, name
        self.columns: list[str] | None = None

    def add(self, frame: pd.DataFrame) -> None:
        header = self.columns is None
        self.columns = _same_columns(self.columns, frame, self.name)
        self.handle.write(frame.to_csv(index=False, header=header, lineterminator="\n").encode("utf-8"))

    def finish(self, empty: pd.DataFrame) -> None:
        """End the file; ``empty`` gives the header when no piece came."""
        if self.columns is None:
            self.add(empty)


class ParquetStream:
    """A Parquet file written one row group of :data:`ROW_GROUP_ROWS` rows at a time.

    Pieces are kept as Arrow tables (compact, no Python object per value)
    until a row group is full.  The Arrow schema is that of the first row
    group, where a column empty so far (Arrow's ``null`` type) is text;
    ``metadata`` is added to the file's key/value metadata.
    """

    def __init__(self, handle: BinaryIO, name: str, metadata: Mapping[str, str] | None = None) -> None:
        self.handle, self.name = handle, name
        self.metadata = dict(metadata or {})
        self.pieces: list[pa.Table] = []
        self.rows = 0
        self.columns: list[str] | None = None
        self.template: pd.DataFrame | None = None  # the first piece's columns and dtypes, no rows
        self.schema: pa.Schema | None = None  # fixed once the first row group is written
        self.writer: Any = None

    def add(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa

        self.columns = _same_columns(self.columns, frame, self.name)
        if self.template is None:
            self.template = frame.iloc[:0]
        self.pieces.append(pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False))
        self.rows += len(frame)
        if self.rows > ROW_GROUP_ROWS:  # more than one group: the full ones go out now
            self._flush(final=False)
        elif len(self.pieces) >= _MAX_PIECES:  # many small pieces: one table, fewer objects
            self.pieces = [self._joined()]

    def finish(self, empty: pd.DataFrame) -> None:
        """Write what is left and the footer; ``empty`` is the table when no piece came."""
        import pyarrow.parquet as pq

        if self.writer is None:  # the whole table fits one row group: as a one-shot write
            table = self._with_metadata(self._joined()) if self.pieces else self._from_pandas(empty)
            pq.write_table(table, self.handle)
            return
        if self.rows:
            self._flush(final=True)
        self.writer.close()

    def _joined(self) -> pa.Table:
        import pyarrow as pa

        if len(self.pieces) == 1:
            return self.pieces[0].combine_chunks()
        # a column empty in some pieces (null) takes the type the others give it
        return pa.concat_tables(self.pieces, promote_options="default").combine_chunks()

    def _from_pandas(self, frame: pd.DataFrame, schema: pa.Schema | None = None) -> pa.Table:
        import pyarrow as pa

        table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
        merged = dict(table.schema.metadata or {})
        merged.update({k.encode(): v.encode() for k, v in self.metadata.items()})
        return table.replace_schema_metadata(merged)

    def _with_metadata(self, table: pa.Table) -> pa.Table:
        """``table`` with the metadata a whole-table conversion from pandas gives it (pandas dtypes included)."""
        assert self.template is not None
        described = self._from_pandas(self.template, table.schema.remove_metadata())
        return table.replace_schema_metadata(described.schema.metadata)

    def _flush(self, *, final: bool) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        whole = self._joined()
        keep = whole.num_rows if final else whole.num_rows // ROW_GROUP_ROWS * ROW_GROUP_ROWS
        if self.schema is None:
            self.schema = pa.schema([pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f
                                     for f in whole.schema]).remove_metadata()
        whole = self._with_metadata(whole.cast(self.schema))
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.handle, whole.schema)
        self.writer.write_table(whole.slice(0, keep), row_group_size=ROW_GROUP_ROWS)
        rest = whole.slice(keep)
        self.pieces = [rest.replace_schema_metadata(None)] if rest.num_rows else []
        self.rows = rest.num_rows
