"""Hostile records and hostile networks on the real broker (issue 10): poison
pills never stop a worker and each gets one dead letter; a SASL_SSL round trip
(produce, score, figures); every listener of ours is on 127.0.0.1."""

from __future__ import annotations

import json
import re
import subprocess
import time

import pytest
from kafka import KafkaProducer

from streams.embedded import read_inputs
from streams.kafka.io import create_topics, plan, replay
from tests.conftest import SASL_USERS
from tests.kafka.test_exactness import embedded_run
from tests.kafka_support import Snapshots, Worker, figures_by_topic, isolated_settings, read_topic, total_n
from tests.processes import group_members
from tests.test_hostile import hostile_lines, hostile_responses, post, response

pytestmark = pytest.mark.timeout(600)


def metric_sum(body: str, name: str) -> float:
    return sum(float(x.rsplit(" ", 1)[1]) for x in body.splitlines() if x.startswith(name + "{"))


def wait_accounted(w: Worker, total: int, timeout: float = 180) -> tuple[float, float]:
    deadline = time.monotonic() + timeout
    counted = dead = 0.0
    while time.monotonic() < deadline:
        assert w.proc is not None and w.proc.poll() is None, f"worker died; see {w.log}"
        body = w.get("/metrics")[1]
        counted = metric_sum(body, "affectwatch_counted_records_total")
        dead = metric_sum(body, "affectwatch_dead_letters_total")
        late = metric_sum(body, "affectwatch_late_records_total")
        if counted + dead + late >= total:
            return counted, dead
        time.sleep(0.5)
    raise TimeoutError(f"counted {counted} + dead {dead} of {total}")


def test_poison_pills_never_stop_a_worker_and_get_one_dead_letter_each(kafka, tmp_path):
    s = isolated_settings(kafka.bootstrap, tmp_path)
    create_topics(s)
    good_p = [json.dumps(post(i)).encode() for i in range(30)]
    good_r = [json.dumps(response(i)).encode() for i in range(30)]
    # Valid but heavy: texts of control characters take six bytes a character in JSON,
    # so one micro-batch of them must still fit the broker's message limit.
    good_r += [json.dumps(response(500 + i, text="\x01" * 49_990 + " angry")).encode() for i in range(5)]
    bad_p, bad_r = hostile_lines(), hostile_responses()
    producer = KafkaProducer(bootstrap_servers=s.kafka.bootstrap, max_request_size=4_000_000)
    for value in good_p[:15] + bad_p + good_p[15:]:
        producer.send(s.kafka.topic_posts, key=b"k", value=value)  # one key: one partition, file order
    for value in good_r[:15] + bad_r + good_r[15:]:
        producer.send(s.kafka.topic_responses, key=b"k", value=value)
    # And on the scores topic the aggregation reads: none of these is an envelope.
    bad_scores = [b"\xff\xfe", b"not json", b"[1, 2]", b"null", b'{"v": 1, "topic_key": "economy", "obs": [{}]}']
    for value in bad_scores:
        producer.send(s.kafka.topic_scores, key=b"economy", value=value)
    producer.flush()
    producer.close()
    w = Worker(s, tmp_path / "worker.log", tmp_path / "state").start()
    try:
        w.wait_ready()
        total = len(good_p) + len(good_r) + len(bad_p) + len(bad_r) + len(bad_scores)
        counted, dead = wait_accounted(w, total)
        assert counted == 67 and dead == total - 67  # also the "$\notacommand{$" model and the year-ahead post
        assert w.proc.poll() is None
        w.stop()  # a clean restart must not write any dead letter again
        w = Worker(s, tmp_path / "worker2.log", tmp_path / "state").start()
        w.wait_ready()
        time.sleep(3)
        letters = read_topic(s, s.kafka.topic_dead_letters)
        keys = [m.key for m in letters]
        assert len(letters) == total - 67 and len(set(keys)) == len(keys)
        reasons = sorted(json.loads(m.value)["reason"] for m in letters)
        assert reasons.count("timestamp_out_of_range") == 5
        assert "invalid_string:text" in reasons and "too_deep" in reasons and "invalid_name:model" in reasons
        assert reasons.count("invalid_score") == len(bad_scores)
    finally:
        w.stop()


def _listeners_of(pids: set[int]) -> list[str]:
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        owners = {int(p) for p in re.findall(r"pid=(\d+)", line)}
        if owners & pids:
            found.append(line.split()[3])
    return found


def test_sasl_ssl_round_trip_with_only_loopback_listeners(kafka, classifier, small_stream, tmp_path):
    user, password = next(iter(SASL_USERS.items()))
    s = isolated_settings(kafka.secure_bootstrap, tmp_path, kafka__security_protocol="SASL_SSL",
                          kafka__sasl_mechanism="SCRAM-SHA-256", kafka__sasl_username=user,
                          kafka__sasl_password=password, kafka__ssl_cafile=kafka.ca_file)
    assert set(create_topics(s).values()) == {"created"}
    plain = s.changed(kafka__sasl_mechanism="PLAIN")
    assert set(create_topics(plain).values()) == {"exists"}  # PLAIN over TLS works too
    inputs = read_inputs(*small_stream)
    expected = figures_by_topic(embedded_run(s, classifier, inputs).figures.to_dict())
    w = Worker(s, tmp_path / "worker.log", tmp_path / "state").start()
    snaps = Snapshots(s)
    try:
        w.wait_ready()
        replay(s, plan(s, inputs), None)
        seen = snaps.wait_for(expected)
        assert total_n(seen) == 240 and seen == expected
        # What an attacker on the network would scan for: nothing of ours off loopback.
        ours = _listeners_of(set(group_members(w.proc.pid)) | set(group_members(kafka.proc.pid)))
        assert len(ours) >= 4  # the worker's web server, the broker's three listeners
        # (Java shows its IPv4 loopback sockets as IPv4-mapped IPv6: still 127.0.0.1.)
        assert all(addr.startswith(("127.0.0.1:", "[::ffff:127.0.0.1]:")) for addr in ours), ours
    finally:
        snaps.close()
        w.stop()
