"""Three brokers, as every production cluster runs: replication factor 3 and
min.insync.replicas 2 on every topic the product creates (the changelogs too),
idempotent producers with acks=all; a leader killed mid-stream and restarted, a
broker frozen past the clients' request timeout. Nothing is lost or counted twice:
the figures end equal to the embedded runner's."""

from __future__ import annotations

import socket
import time

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import KafkaTimeoutError

from streams.kafka.io import TABLES, create_topics, partitions, plan, project_topics, replay
from streams.kafka.localcluster import LocalKafkaCluster
from streams.kafka.security import connected
from tests.kafka.test_exactness import demo_inputs, embedded_figures, start
from tests.kafka_support import Snapshots, Worker, counts_diff, figure_diff, isolated_settings, total_n

pytestmark = pytest.mark.slow

REQUEST_TIMEOUT = 8  # seconds: the freeze below outlasts it


@pytest.fixture(scope="module")
def cluster():
    with LocalKafkaCluster(3, extra={"group.initial.rebalance.delay.ms": "0"}) as c:
        yield c


def topic_settings(bootstrap: str, names: list[str], within: float = 30.0) -> dict[str, tuple[int, str]]:
    """topic -> (smallest replica count of its partitions, its min.insync.replicas)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        replicas = {name: min(len(p.replicas) for p in parts.values())
                    for name, parts in partitions(admin, names, within).items()}
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names],
                                           config_filter="all")["topic"]
        insync = {n: described[n]["min.insync.replicas"]["value"] for n in names}
    finally:
        admin.close()
    return {n: (replicas[n], insync[n]) for n in names}


def test_the_topics_the_product_creates_are_replicated_three_times(cluster, tmp_path):
    s = isolated_settings(cluster.bootstrap, tmp_path, kafka__replication_factor=3)
    assert set(create_topics(s).values()) == {"created"}
    names = project_topics(s)
    assert topic_settings(cluster.bootstrap, names) == {n: (3, "2") for n in names}
    # A topic made with other settings is named, not silently taken as it is.
    thinner = s.changed(kafka__replication_factor=2)
    assert set(create_topics(thinner).values()) == {"exists with replication factor 3, not 2"}


def test_a_client_bootstraps_past_a_server_that_accepts_and_never_answers(kafka, tmp_path):
    """What a frozen broker looks like to a client: the kernel completes the connection,
    nothing answers. kafka-python would spend its whole bootstrap timeout on it when its
    random pick lands there; ``connected`` gives each server its own attempt."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # never accepted: connections wait in the backlog, unanswered
        host, port = silent.getsockname()
        s = isolated_settings(f"{host}:{port},{kafka.bootstrap}", tmp_path, kafka__request_timeout_seconds=3)
        began = time.monotonic()
        admin = connected(KafkaAdminClient, s.kafka)
        try:
            assert admin.list_topics() is not None
        finally:
            admin.close()
        assert time.monotonic() - began < 3 * 3 + 10
        alone = s.changed(kafka__bootstrap=f"{host}:{port}")
        with pytest.raises(KafkaTimeoutError):
            connected(KafkaAdminClient, alone.kafka)


def _supervise(workers: list[Worker], s, tmp_path) -> int:
    """Restarts a worker that exited (what compose's restart policy does); returns how many."""
    restarted = 0
    for j, w in enumerate(workers):
        if w.proc is not None and w.proc.poll() is not None:
            assert w.proc.returncode != 0
            workers[j] = Worker(s, tmp_path / f"worker-{j}.log", tmp_path / f"state-{j}").start()
            restarted += 1
    return restarted


def _wait(snaps: Snapshots, expected: dict, workers: list[Worker], s, tmp_path, timeout: float) -> dict:
    deadline, seen = time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        _supervise(workers, s, tmp_path)
        snaps.poll()
        if (seen := snaps.by_topic()) == expected:
            break
    return seen


def test_a_killed_leader_and_a_frozen_broker_lose_nothing(cluster, classifier, tmp_path):
    s = isolated_settings(cluster.bootstrap, tmp_path, kafka__replication_factor=3,
                          kafka__request_timeout_seconds=REQUEST_TIMEOUT)
    create_topics(s)
    inputs = demo_inputs(1200)
    expected = embedded_figures(s, classifier, inputs)
    workers = start(s, tmp_path, n=2)
    changelogs = [f"{s.kafka.app_id}-{t}-changelog" for t in TABLES]
    assert topic_settings(cluster.bootstrap, changelogs) == {n: (3, "2") for n in changelogs}
    snaps = Snapshots(s)
    messages = plan(s, inputs)
    try:
        replay(s, messages[:400], None)
        time.sleep(2)  # mid-stream
        # The leader of the scores' first partition (what the aggregation reads and the score
        # stage writes), SIGKILLed: its replicas elect a new leader; later it comes back.
        victim = cluster.node(cluster.replicas(s.kafka.topic_scores)[0].leader)
        victim.kill()
        replay(s, messages[400:800], None)  # two of three brokers take every write (min.insync 2)
        time.sleep(5)
        victim.start()
        # The leader of the windows changelog's first partition, frozen past the request timeout:
        # it holds its connections open and answers nothing, until the others fence it.
        frozen = cluster.node(cluster.replicas(changelogs[1])[0].leader)
        replay(s, messages[800:1000], None)
        frozen.freeze()
        try:
            began = time.monotonic()
            replay(s, messages[1000:], None)
            print(f"replay with a frozen broker: {time.monotonic() - began:.1f} s")
            time.sleep(max(0.0, 2.5 * REQUEST_TIMEOUT - (time.monotonic() - began)))
        finally:
            frozen.thaw()
        seen = _wait(snaps, expected, workers, s, tmp_path, timeout=300)
        assert total_n(seen) == 1200, f"{total_n(seen)} of 1200 counted"
        late = {wid: snap.get("late") for wid, snap in snaps.latest.items()}
        assert seen == expected, f"late: {late}\n" + counts_diff(seen, expected) + "\n" + figure_diff(seen, expected)
    finally:
        snaps.close()
        for w in workers:
            w.stop()
