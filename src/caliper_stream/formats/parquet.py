"""Parquet (needs pyarrow: ``pip install caliper-stream[parquet]``), written one row group at
a time so memory stays bounded; raw events are a binary column holding the exact bytes."""

from __future__ import annotations

from typing import Any, BinaryIO

from caliper_stream.errors import CaliperStreamError
from caliper_stream.formats import Column

ROW_GROUP = 20_000


class ParquetWriter:
    def __init__(self, out: BinaryIO, columns: list[Column], row_group: int = ROW_GROUP) -> None:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise CaliperStreamError("Parquet needs pyarrow: pip install 'caliper-stream[parquet]'") from exc
        self.pa = pa
        types = {"text": pa.string(), "float": pa.float64(), "event": pa.binary()}
        self.schema = pa.schema([(c.name, types[c.kind]) for c in columns])
        self.writer = pq.ParquetWriter(out, self.schema, compression="zstd")
        self.row_group = row_group
        self.buffer: list[list[Any]] = [[] for _ in columns]

    def write(self, record: tuple[Any, ...]) -> None:
        for column, value in zip(self.buffer, record, strict=True):
            column.append(value)
        if len(self.buffer[0]) >= self.row_group:
            self._flush()

    def _flush(self) -> None:
        if self.buffer[0]:
            self.writer.write_table(self.pa.Table.from_arrays(self.buffer, schema=self.schema))
            self.buffer = [[] for _ in self.buffer]

    def close(self) -> None:
        self._flush()
        self.writer.close()
