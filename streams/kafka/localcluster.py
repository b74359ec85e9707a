"""A real N-node Apache Kafka cluster on loopback (KRaft: every node a broker and
a voter of the controller quorum), for tests and developers, from the same jars
as ``streams.kafka.localkafka``.

With three nodes the cluster is what production runs: the broker's own topics
and new topics get replication factor 3 and ``min.insync.replicas`` 2, so one
node may be killed or frozen without losing a write or stopping one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from streams.kafka.localkafka import LocalKafka, cluster_id, free_port

if TYPE_CHECKING:
    from streams.kafka.io import PartitionState


@dataclass
class LocalKafkaCluster:
    """``size`` nodes of one cluster; ``start`` blocks until every broker is registered."""

    size: int = 3
    extra: dict[str, str] = field(default_factory=dict)
    heap: str = "384m"
    data_dir: Path | None = None
    nodes: list[LocalKafka] = field(init=False)

    def __post_init__(self) -> None:
        self._own_dir = self.data_dir is None
        self.data_dir = Path(self.data_dir or tempfile.mkdtemp(prefix="affectwatch-cluster-"))
        controllers = [free_port() for _ in range(self.size)]
        voters = ",".join(f"{i + 1}@127.0.0.1:{port}" for i, port in enumerate(controllers))
        shared = cluster_id()
        self.nodes = [
            LocalKafka(controller_port=port, data_dir=self.data_dir / f"node-{i + 1}", extra=self.extra,
                       heap=self.heap, node_id=i + 1, voters=voters, cluster_id=shared,
                       replication=min(3, self.size))
            for i, port in enumerate(controllers)
        ]

    @property
    def bootstrap(self) -> str:
        return ",".join(n.bootstrap for n in self.nodes)

    def node(self, node_id: int) -> LocalKafka:
        return self.nodes[node_id - 1]

    def start(self, timeout: float = 120.0) -> LocalKafkaCluster:
        for n in self.nodes:
            n.launch()
        for n in self.nodes:
            n.wait_ready(timeout)
        self.wait_brokers(self.size, timeout)
        return self

    def wait_brokers(self, count: int, timeout: float) -> None:
        """Until the cluster's metadata lists ``count`` live brokers."""
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            try:
                admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=5000)
                try:
                    seen = len(admin.describe_cluster()["brokers"])
                finally:
                    admin.close()
                if seen >= count:
                    return
            except (KafkaError, OSError):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"{seen} of {count} brokers registered after {timeout}s")

    def replicas(self, topic: str) -> dict[int, PartitionState]:
        """partition -> its leader, replicas and in-sync replicas, as the cluster's metadata says now."""
        from kafka import KafkaAdminClient

        from streams.kafka.io import partitions

        live = [n.bootstrap for n in self.nodes if n.proc is not None and n.proc.poll() is None]
        admin = KafkaAdminClient(bootstrap_servers=",".join(live), request_timeout_ms=10000)
        try:
            return partitions(admin, [topic]).get(topic, {})
        finally:
            admin.close()

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM to every node at once (one by one, the last would wait for a quorum gone), then SIGKILL."""
        running = [n for n in self.nodes if n.proc is not None and n.proc.poll() is None]
        for n in running:
            with contextlib.suppress(ProcessLookupError):
                n.thaw()
                os.killpg(n.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for n in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                n.proc.wait(max(0.1, deadline - time.monotonic()))
        for n in self.nodes:
            n.kill()

    def cleanup(self) -> None:
        self.stop()
        for n in self.nodes:
            n.cleanup()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> LocalKafkaCluster:
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
