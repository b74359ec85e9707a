"""Reading record files (JSONL or CSV) into raw inputs with their source.

Every line or row becomes one raw input; nothing is validated here, so a bad
line reaches ``parse`` and becomes a dead letter with a reason.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.core.records import Kind

csv.field_size_limit(50_000_000)
LIST_FIELDS = ("urls", "domains")


@dataclass(frozen=True)
class RawInput:
    raw: bytes | dict
    kind: Kind
    source: dict[str, Any]


def _csv_row(row: dict[str, str | None]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key is None or value is None or value == "":
            continue
        if key in LIST_FIELDS:
            out[key] = value.split() if not value.startswith("[") else json.loads(value)
        else:
            out[key] = value
    return out


def read_records(path: Path, kind: Kind) -> Iterator[RawInput]:
    """JSONL (one object a line) or CSV with a header, chosen by the suffix."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        text = path.read_bytes().decode("utf-8", "surrogateescape")
        for n, row in enumerate(csv.DictReader(io.StringIO(text, newline="")), start=2):
            source = {"file": str(path), "line": n}
            try:
                data = _csv_row(row)
                json.dumps(data).encode("utf-8")
            except (ValueError, UnicodeEncodeError):
                raw = ",".join(v or "" for v in row.values() if isinstance(v, str))
                yield RawInput(raw.encode("utf-8", "surrogateescape"), kind, source)
                continue
            yield RawInput(data, kind, source)
        return
    with path.open("rb") as fh:
        for n, line in enumerate(fh, start=1):
            if line.strip():
                yield RawInput(line.rstrip(b"\r\n"), kind, {"file": str(path), "line": n})
