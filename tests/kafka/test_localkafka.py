"""The local broker's own set-up (no broker started here)."""

from __future__ import annotations

from streams.kafka.localkafka import cluster_id


def test_cluster_ids_never_look_like_an_option():
    ids = [cluster_id() for _ in range(3000)]  # a leading '-' came once in 64
    assert not any(i.startswith("-") for i in ids)
    assert all(len(i) == 22 for i in ids) and len(set(ids)) == len(ids)
