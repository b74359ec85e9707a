"""Output files created without following symbolic links, and URLs fit to write.

A run writes into folders an operator names (``--out``, reviews, webhook logs);
a link planted there in advance must not redirect a write to another file, so
every output is opened with ``O_NOFOLLOW`` and a folder that is a link or a
file is refused with a clear error.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit, urlunsplit

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafeOutput(OSError):
    """An output path is a symbolic link, or a folder path is not a folder."""


def output_dir(path: Path) -> Path:
    """Create the folder (and parents) if needed; refuse a file or a link in its place."""
    path = Path(path)
    if path.is_symlink():
        raise UnsafeOutput(f"output folder {path} is a symbolic link; give a real folder")
    if path.exists() and not path.is_dir():
        raise UnsafeOutput(f"output folder {path} is a file, not a folder")
    path.mkdir(parents=True, exist_ok=True)
    return path


def open_output(path: Path, append: bool = False, binary: bool = False) -> IO:
    """Open a file for writing (truncated, or appended to) without following a link."""
    try:
        fd = os.open(path, _FLAGS | (os.O_APPEND if append else os.O_TRUNC), 0o644)
    except OSError as exc:
        if Path(path).is_symlink():
            raise UnsafeOutput(f"refusing to write through the symbolic link {path}") from exc
        raise
    if binary:
        return os.fdopen(fd, "ab" if append else "wb")
    return os.fdopen(fd, "a" if append else "w", encoding="utf-8")


def write_text(path: Path, text: str) -> Path:
    with open_output(path) as fh:
        fh.write(text)
    return Path(path)


def write_bytes(path: Path, data: bytes) -> Path:
    with open_output(path, binary=True) as fh:
        fh.write(data)
    return Path(path)


def redact_url(url: str) -> str:
    """The URL with any user name and password replaced by ``***``, fit to write
    in files, logs and reports (keys in query strings are dropped too)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = "***" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
