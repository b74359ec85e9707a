"""Processes the suite starts are its own to end: every test ends what it
starts (``end``: SIGTERM, then SIGKILL), and the session checks at its end that
no process it started is left running (``leftovers``), whatever happened.

A process belongs to this session when its environment carries the session's
mark, which every child inherits from the pytest process."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MARK = "AFFECTWATCH_TEST_SESSION"


def mark_session() -> str:
    os.environ.setdefault(MARK, uuid.uuid4().hex)
    return os.environ[MARK]


def end(proc: subprocess.Popen, grace: float = 15.0, group: bool = True) -> int | None:
    """SIGTERM (to its process group when it leads one), then SIGKILL after ``grace`` seconds."""
    if proc.poll() is not None:
        return proc.returncode
    own_group = group and os.getpgid(proc.pid) == proc.pid
    send = (lambda sig: os.killpg(proc.pid, sig)) if own_group else proc.send_signal
    try:
        send(signal.SIGTERM)
        return proc.wait(grace)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        return proc.wait(10)
    except ProcessLookupError:
        return proc.wait(10)


@dataclass(frozen=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` the suite reads (proc(5))."""

    pid: int
    state: str
    ppid: int
    pgid: int
    nice: int

    @property
    def alive(self) -> bool:
        return self.state != "Z"  # a zombie holds nothing

    @property
    def path(self) -> Path:
        return Path("/proc") / str(self.pid)


def processes() -> Iterator[ProcStat]:
    """Every process this user may see, read from ``/proc`` (one gone meanwhile is skipped)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # the command name may hold spaces and parentheses: the fields follow its last ")"
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        yield ProcStat(int(entry.name), fields[0], int(fields[1]), int(fields[2]), int(fields[16]))


def group_members(pgid: int) -> list[int]:
    """Live processes of a process group."""
    return sorted(p.pid for p in processes() if p.pgid == pgid and p.alive)


def leftovers(mark: str) -> dict[int, str]:
    """Live processes of this session (other than pytest itself): pid -> command line."""
    out = {}
    me = os.getpid()
    for p in processes():
        if p.pid == me or not p.alive:
            continue
        try:
            env = (p.path / "environ").read_bytes()
            if f"{MARK}={mark}".encode() not in env.split(b"\0"):
                continue
            cmd = (p.path / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if p.ppid == me and "multiprocessing.resource_tracker" in cmd:
            continue  # pytest's own: it ends when pytest does (its pipe closes)
        out[p.pid] = cmd
    return out


def end_leftovers(mark: str, grace: float = 10.0) -> dict[int, str]:
    """Waits ``grace`` seconds for this session's processes to end, then kills what is left; returns it."""
    deadline = time.monotonic() + grace
    while (left := leftovers(mark)) and time.monotonic() < deadline:
        time.sleep(0.5)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return left
