"""Reading record files (JSONL or CSV) into raw inputs with their source.

Every line or row becomes one raw input. Records are validated by ``parse``;
only what the file format itself shows (a CSV row with the wrong number of
fields, an unclosed quote, bytes that are not UTF-8) is marked here, so that
row becomes its own dead letter and no other row is lost with it.
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
BOM = "\ufeff"


@dataclass(frozen=True)
class RawInput:
    raw: bytes | dict
    kind: Kind
    source: dict[str, Any]
    reject: tuple[str, str] | None = None  # (reason, detail) when the file itself shows the input is bad


def _csv_row(row: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if value == "":
            continue
        if key in LIST_FIELDS:
            out[key] = value.split() if not value.startswith("[") else json.loads(value)
        else:
            out[key] = value
    return out


def _has_surrogates(values: list[str]) -> bool:
    try:
        "".join(values).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class _Lines:
    """Physical lines fed to a csv reader one at a time, counting how many it took."""

    def __init__(self, lines: list[str], pos: int) -> None:
        self.lines, self.pos = lines, pos

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self.pos >= len(self.lines):
            raise StopIteration
        self.pos += 1
        return self.lines[self.pos - 1]


def _read_csv(path: Path, kind: Kind) -> Iterator[RawInput]:
    """CSV with a header row (RFC 4180). A UTF-8 BOM is ignored; CR, LF and CRLF
    all end lines. A row that is not valid UTF-8, that has more or fewer fields
    than the header, or whose quote never closes is one dead letter, and reading
    resumes on the line after the one it started on, so it swallows no other row."""
    text = path.read_bytes().decode("utf-8", "surrogateescape").removeprefix(BOM)
    lines = list(io.StringIO(text, newline=""))  # splits on \r, \n and \r\n, keeps them
    if not lines:
        return
    feed = _Lines(lines, 0)
    try:
        header = next(csv.reader(feed, strict=True))
    except (csv.Error, StopIteration):
        return
    while feed.pos < len(lines):
        start = feed.pos
        source = {"file": str(path), "line": start + 1}
        try:
            row = next(csv.reader(feed, strict=True))
        except StopIteration:
            return
        except csv.Error as exc:
            raw = lines[start].encode("utf-8", "surrogateescape")
            yield RawInput(raw, kind, source, ("malformed_csv", str(exc)))
            feed.pos = start + 1
            continue
        raw = "".join(lines[start:feed.pos]).rstrip("\r\n").encode("utf-8", "surrogateescape")
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # a blank line
        if len(row) != len(header):
            yield RawInput(raw, kind, source,
                           ("malformed_csv", f"{len(row)} fields where the header has {len(header)}"))
            feed.pos = start + 1  # a stray quote may have run on: resume on the next line
            continue
        if _has_surrogates(row):
            yield RawInput(raw, kind, source, ("invalid_utf8", "the row is not valid UTF-8"))
            continue
        try:
            data = _csv_row(dict(zip(header, row, strict=True)))
        except (ValueError, RecursionError) as exc:
            yield RawInput(raw, kind, source, ("invalid_field:urls", f"a list cell is not a JSON list: {exc}"[:200]))
            continue
        yield RawInput(data, kind, source)


def read_records(path: Path, kind: Kind) -> Iterator[RawInput]:
    """JSONL (one object a line) or CSV with a header, chosen by the suffix.

    JSONL lines may end in LF, CRLF or CR (a JSON text holds no raw line
    breaks); a UTF-8 BOM at the start of the file is ignored (RFC 8259, 8.1)."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        yield from _read_csv(path, kind)
        return
    data = path.read_bytes().removeprefix(BOM.encode("utf-8"))
    for n, line in enumerate(data.splitlines(), start=1):  # bytes.splitlines: \n, \r and \r\n only
        if line.strip():
            yield RawInput(line, kind, {"file": str(path), "line": n})
