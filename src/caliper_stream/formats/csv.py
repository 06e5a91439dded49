"""CSV (RFC 4180 quoting, UTF-8, header row); raw events as text in one quoted cell."""

from __future__ import annotations

import csv
import io
from typing import Any, BinaryIO

from caliper_stream.formats import Column


class CsvWriter:
    def __init__(self, out: BinaryIO, columns: list[Column]) -> None:
        self.text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
        self.kinds = [c.kind for c in columns]
        self.csv = csv.writer(self.text)
        self.csv.writerow([c.name for c in columns])

    def write(self, record: tuple[Any, ...]) -> None:
        self.csv.writerow(
            [
                bytes(v).decode("utf-8", "replace")
                if k == "event" and v is not None
                else "" if v is None else v
                for k, v in zip(self.kinds, record, strict=True)
            ]
        )

    def close(self) -> None:
        self.text.flush()
        self.text.detach()  # leave `out` open: the caller owns it
