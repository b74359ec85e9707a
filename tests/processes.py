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


def leftovers(mark: str) -> dict[int, str]:
    """Live processes of this session (other than pytest itself): pid -> command line."""
    out = {}
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            env = (entry / "environ").read_bytes()
            if f"{MARK}={mark}".encode() not in env.split(b"\0"):
                continue
            state, ppid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            if state == "Z":  # a zombie holds nothing
                continue
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if int(ppid) == me and "multiprocessing.resource_tracker" in cmd:
                continue  # pytest's own: it ends when pytest does (its pipe closes)
            out[int(entry.name)] = cmd
        except OSError:  # gone meanwhile, or not ours to read
            continue
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
