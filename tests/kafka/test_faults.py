"""Faults a production node meets, on a real broker: a classifier process killed
(as the OOM killer does) or frozen mid-stream. The worker heals (a new classifier
process, the batches it held classified again, nothing counted twice) or exits
non-zero, and is then restarted as a supervisor would; the figures end equal to
the embedded runner's either way."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import pytest

from streams.kafka.io import create_topics, plan, replay
from tests.kafka.test_exactness import demo_inputs, embedded_figures, start
from tests.kafka_support import Snapshots, Worker, figure_diff, isolated_settings, total_n
from tests.processes import group_members, processes

pytestmark = pytest.mark.timeout(600)


def classifier_processes(worker: Worker) -> list[int]:
    """The worker's classifier processes: its children that run niced (AFFECTWATCH_WORKER_CLASSIFIER_NICE)."""
    assert worker.proc is not None
    return sorted(p.pid for p in processes() if p.ppid == worker.proc.pid and p.nice > 0)


def members_after(pgid: int, within: float) -> list[int]:
    """Processes still in a process group after ``within`` seconds (an exited worker's children)."""
    deadline = time.monotonic() + within
    while (left := group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


def metric_value(worker: Worker, name: str) -> float:
    _, body = worker.get(f"/metrics?name[]={name}")
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines() if line.startswith(name + "{"))


def _run_with_fault(kafka, classifier, tmp_path: Path, fault: str, extra_env: dict[str, str]) -> None:
    s = isolated_settings(kafka.bootstrap, tmp_path)
    create_topics(s)
    inputs = demo_inputs(800)
    expected = embedded_figures(s, classifier, inputs)
    w = Worker(s, tmp_path / "worker-0.log", tmp_path / "state-0", extra_env=extra_env).start()
    w.wait_ready()
    snaps = Snapshots(s)
    restarted: list[Worker] = []
    try:
        messages = plan(s, inputs)
        replay(s, messages[:300], None)
        deadline = time.monotonic() + 120
        while total_n(snaps.by_topic()) < 100 and time.monotonic() < deadline:
            snaps.poll()
        assert total_n(snaps.by_topic()) > 0
        victims = classifier_processes(w)
        assert len(victims) == 2, victims
        if fault == "kill":
            os.kill(victims[0], signal.SIGKILL)  # the pool breaks: every call in flight fails
        else:  # both frozen, so every call hangs (one frozen while idle takes no call, and the other serves)
            for victim in victims:
                os.kill(victim, signal.SIGSTOP)
        faulted = time.monotonic()
        replay(s, messages[300:], None)
        # Every record counted within 90 s of the fault (healed: the rest of the stream takes a few
        # seconds), or the worker exited non-zero: a supervisor restarts it onto its committed offsets.
        while time.monotonic() - faulted < 90 and w.proc.poll() is None and total_n(snaps.by_topic()) < 800:
            snaps.poll()
        if w.proc.poll() is None:
            assert total_n(snaps.by_topic()) == 800, f"{total_n(snaps.by_topic())} of 800 counted 90 s after the fault"
            assert metric_value(w, "affectwatch_classifier_restarts_total") >= 1
        else:
            assert w.proc.returncode != 0
            restarted = start(s, tmp_path)
        seen = snaps.wait_for(expected)
        assert total_n(seen) == 800
        assert seen == expected, figure_diff(seen, expected)
        log = (tmp_path / "worker-0.log").read_text(errors="replace")
        assert "classifier process" in log  # one clear line says what happened
    finally:
        snaps.close()
        for victim in classifier_processes(w) if w.proc and w.proc.poll() is None else []:
            os.kill(victim, signal.SIGCONT)
        for worker in (w, *restarted):
            worker.stop()


def test_a_killed_classifier_process_is_replaced_and_nothing_is_lost(kafka, classifier, tmp_path):
    _run_with_fault(kafka, classifier, tmp_path, "kill", {})


def test_a_frozen_classifier_process_is_replaced_after_its_timeout(kafka, classifier, tmp_path):
    _run_with_fault(kafka, classifier, tmp_path, "stop", {"AFFECTWATCH_CLASSIFIER_TIMEOUT_SECONDS": "10"})


def test_a_worker_frozen_past_its_session_comes_back_whole(kafka, classifier, tmp_path):
    """SIGSTOP of a worker's process group mid-stream, for longer than the session timeout (a VM
    paused for live migration, a container throttled to zero), then SIGCONT: four times, each
    worker in turn, each time while it holds batches of a chunk just sent. The other worker takes
    over while it is frozen; the resumed one must not act on state or batches from before the pause
    (here it exits, and the test restarts it as a supervisor would). Figures end exact."""
    s = isolated_settings(kafka.bootstrap, tmp_path)
    create_topics(s)
    inputs = demo_inputs(1600)
    expected = embedded_figures(s, classifier, inputs)
    workers = start(s, tmp_path, n=2)
    snaps = Snapshots(s)
    restarts = 0
    try:
        messages = plan(s, inputs)
        for k, i in enumerate(range(0, 1600, 400)):
            replay(s, messages[i : i + 400], None)
            time.sleep(1)  # mid-stream: the worker holds batches of this chunk
            frozen = workers[k % 2]
            os.killpg(frozen.proc.pid, signal.SIGSTOP)
            time.sleep(15)  # past the session timeout of the tests (6 s): the other worker takes over
            os.killpg(frozen.proc.pid, signal.SIGCONT)
            time.sleep(3)
            for j, w in enumerate(workers):
                if w.proc.poll() is not None:  # a supervisor restarts a worker that exited
                    assert w.proc.returncode != 0
                    assert not members_after(w.proc.pid, within=10), "the exited worker left processes running"
                    restarts += 1
                    workers[j] = Worker(s, tmp_path / f"worker-{j}.log", tmp_path / f"state-{j}").start()
        seen = snaps.wait_for(expected, timeout=240)
        assert total_n(seen) == 1600, f"{total_n(seen)} of 1600 counted"
        assert seen == expected, figure_diff(seen, expected)
        logs = "".join((tmp_path / f"worker-{j}.log").read_text(errors="replace") for j in range(2))
        assert restarts == logs.count("was paused for")  # each exit said why, in one line
    finally:
        snaps.close()
        for w in workers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(w.proc.pid, signal.SIGCONT)
            w.stop()
