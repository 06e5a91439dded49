"""Parquet (needs pyarrow: ``pip install caliper-stream[parquet]``), written one row group at
a time so memory stays bounded; raw events are a binary column holding the exact bytes, times are
UTC timestamps (milliseconds) and durations are seconds (float), so BI tools read them as such."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, BinaryIO

from caliper_stream.errors import CaliperStreamError
from caliper_stream.formats import Column

ROW_GROUP = 20_000
_DURATION = re.compile(
    r"^(-)?P(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)


def require_pyarrow() -> None:
    """Fail before anything is written (no empty output file) when pyarrow is missing."""
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError as exc:
        raise CaliperStreamError("Parquet needs pyarrow: pip install 'caliper-stream[parquet]'") from exc


def seconds(value: Any) -> float | None:
    """An ISO 8601 duration (``PT24.403S``, ``P1DT2H``) in seconds; None for what has no fixed
    length (years, months) or is not a duration."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)  # Caliper 1.0 media durations were seconds already
    if not isinstance(value, str):
        return None
    m = _DURATION.match(value.strip())
    if m is None or value.strip() in ("P", "PT"):
        return None
    sign, weeks, days, hours, minutes, secs = m.groups()
    total = sum(float(x or 0) * unit for x, unit in ((weeks, 604800), (days, 86400), (hours, 3600), (minutes, 60), (secs, 1)))
    return -total if sign else total


def timestamp(value: Any) -> datetime | None:
    """An ISO 8601 time as an aware UTC datetime; None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class ParquetWriter:
    def __init__(self, out: BinaryIO, columns: list[Column], row_group: int = ROW_GROUP) -> None:
        require_pyarrow()
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.pa = pa
        types = {
            "text": pa.string(), "float": pa.float64(), "event": pa.binary(),
            "time": pa.timestamp("ms", tz="UTC"), "duration": pa.float64(),
        }
        self.schema = pa.schema([(c.name, types[c.kind]) for c in columns])
        self.convert = [{"time": timestamp, "duration": seconds}.get(c.kind) for c in columns]
        self.writer = pq.ParquetWriter(out, self.schema, compression="zstd")
        self.row_group = row_group
        self.buffer: list[list[Any]] = [[] for _ in columns]

    def write(self, record: tuple[Any, ...]) -> None:
        for column, convert, value in zip(self.buffer, self.convert, record, strict=True):
            column.append(value if convert is None or value is None else convert(value))
        if len(self.buffer[0]) >= self.row_group:
            self._flush()

    def _flush(self) -> None:
        if self.buffer[0]:
            self.writer.write_table(self.pa.Table.from_arrays(self.buffer, schema=self.schema))
            self.buffer = [[] for _ in self.buffer]

    def close(self) -> None:
        self._flush()
        self.writer.close()
