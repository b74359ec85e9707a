"""Shared fixtures: the real classifier (loaded once) and small record files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.classifier import Classifier
from models.datasets import SharedDataMissing, shared_data_dir
from streams.settings import BUNDLED, Settings


def pytest_configure(config: pytest.Config) -> None:
    from tests.processes import mark_session

    mark_session()  # every process the suite starts carries it (tests/processes.py)
    try:
        shared_data_dir()
    except SharedDataMissing as exc:  # say it once, plainly, instead of 50 tracebacks
        raise pytest.UsageError(str(exc)) from exc


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """No process of the suite outlives it: one that does is killed, and the run fails, naming it."""
    import os

    from tests.processes import MARK, end_leftovers

    left = end_leftovers(os.environ[MARK])
    if left:
        lines = "\n".join(f"  {pid}: {cmd[:200]}" for pid, cmd in sorted(left.items()))
        print(f"\n{len(left)} processes started by the suite were still running at its end (killed):\n{lines}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def kafka():
    """One real broker (KRaft) for the whole session; each test isolates its topics and group.
    Beside its plaintext listener it serves SASL_SSL (PLAIN, SCRAM-SHA-256) for SASL_USERS."""
    from streams.kafka.localkafka import LocalKafka

    with LocalKafka(extra={"group.initial.rebalance.delay.ms": "0"}, sasl_users=SASL_USERS) as k:
        yield k


@pytest.fixture(scope="session")
def classifier() -> Classifier:
    return Classifier()


@pytest.fixture()
def server():
    """``server(script)`` starts a scripted OpenAI-compatible chat server (tests.chat_server),
    closed after the test; the reviewer and probe tests share it."""
    from tests.chat_server import ChatServer

    servers: list[ChatServer] = []

    def make(script) -> ChatServer:
        servers.append(ChatServer(script))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    return Settings(outputs__http_port=-1, outputs__dir=tmp_path / "out", figures__permutations=99,
                    figures__min_samples=5, dike__behavior_spectra=GUARDRAILS)


SASL_USERS = {"alice": "alice-secret"}
GUARDRAILS = [BUNDLED / "behavior" / "letter.yaml", BUNDLED / "behavior" / "hostility.yaml"]
T0 = 1_709_294_400_000  # 2024-03-01T12:00:00Z


def write_jsonl(path: Path, rows: list) -> Path:
    with path.open("wb") as fh:
        for row in rows:
            fh.write(row if isinstance(row, bytes) else json.dumps(row).encode())
            fh.write(b"\n")
    return path


@pytest.fixture()
def small_stream(tmp_path: Path) -> tuple[Path, Path]:
    """Posts from two groups and responses of two steerings over 2 hours, plus bad lines."""
    happy = [
        "What a wonderful day with my family",
        "So grateful and happy for this community",
        "I love how everyone came together to help",
        "Great news today, feeling hopeful",
    ]
    angry = [
        "This is outrageous and disgusting",
        "I am furious at these corrupt liars",
        "They betrayed us again, I hate this",
        "Absolutely sick of this nonsense",
    ]
    posts, responses = [], []
    for i in range(60):
        t = T0 + i * 120_000
        posts.append(
            {
                "id": f"l{i}",
                "author_id": f"a{i % 7}",
                "text": happy[i % 4] + f" #{i}",
                "created_at": t,
                "group": "liberal",
            }
        )
        posts.append(
            {
                "id": f"c{i}",
                "author_id": f"b{i % 5}",
                "text": angry[i % 4] + f" #{i}",
                "created_at": t + 1000,
                "group": "conservative",
            }
        )
        responses.append(
            {"id": f"r{i}", "model": "m1", "steering": "default", "text": happy[(i + 1) % 4], "created_at": t + 2000}
        )
        responses.append(
            {"id": f"s{i}", "model": "m1", "steering": "angry", "text": angry[(i + 2) % 4], "created_at": t + 3000}
        )
    posts += [
        b"{not json",
        b"\xff\xfe\x00",
        json.dumps({"id": "x", "text": "no author", "created_at": T0}).encode(),
        json.dumps({"id": "g", "author_id": "z", "text": "hi", "created_at": T0, "group": "green"}).encode(),
        json.dumps({"id": "big", "author_id": "z", "text": "a" * 1_000_000, "created_at": T0}).encode(),
    ]
    responses += [json.dumps({"id": "nm", "text": "no model", "created_at": T0}).encode()]
    return write_jsonl(tmp_path / "posts.jsonl", posts), write_jsonl(tmp_path / "responses.jsonl", responses)
