"""The classifier's child processes heal (models.classifier_process): one killed (as the OOM
killer does) or frozen is replaced, and the call is answered with the same scores."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from models.classifier_process import ClassifierProcess, ClassifierUnavailable

TEXTS = ["I can't believe they did this to us", "What a wonderful day with my family", "The vote is on Tuesday"]


@pytest.fixture()
def served():
    reasons: list[str] = []
    proc = ClassifierProcess(2, timeout=8, on_restart=reasons.append, threads=1)
    yield proc, reasons
    proc.close()


def _same(a: tuple, b: tuple) -> bool:
    return all(np.allclose(x, y) for x, y in zip(a[:2], b[:2], strict=True))


def test_a_killed_process_is_replaced_and_the_call_answered(served):
    proc, reasons = served
    before = proc.predict(TEXTS)
    old = proc.pids()
    os.kill(old[0], signal.SIGKILL)
    time.sleep(0.5)
    assert _same(proc.predict(TEXTS), before)
    assert proc.restarts == 1 and "died" in reasons[0]
    assert not set(proc.pids()) & set(old)


def test_a_frozen_process_is_replaced_after_the_timeout(served):
    proc, reasons = served
    before = proc.predict(TEXTS)
    old = proc.pids()
    for pid in old:
        os.kill(pid, signal.SIGSTOP)
    started = time.monotonic()
    assert _same(proc.predict(TEXTS), before)
    assert 8 <= time.monotonic() - started < 60
    assert proc.restarts == 1 and "answered nothing" in reasons[0]
    for pid in old:  # killed by the replacement: nothing of them is left
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_processes_that_cannot_start_are_an_infrastructure_error(tmp_path):
    proc = ClassifierProcess(1, timeout=8, retries=1, threads=1)
    try:
        os.kill(proc.pids()[0], signal.SIGKILL)
        proc.kwargs = {**proc.kwargs, "artifacts": tmp_path}  # the new processes cannot load a model
        with pytest.raises(ClassifierUnavailable):
            proc.predict(TEXTS)
    finally:
        proc.close()
