"""A real Apache Kafka node (KRaft: broker and controller in one JVM) for tests,
benchmarks and developers, started from jars that Maven resolves from Maven
Central (deploy/kafka/pom.xml names the version). One node is a cluster of its
own; ``streams.kafka.localcluster`` joins several into one quorum.

    python -m streams.kafka.localkafka start --port 9092   # stays in the foreground
    python -m streams.kafka.localkafka start --nodes 3     # three nodes, one cluster
    python -m streams.kafka.localkafka jars                # just resolve the jars

Debian has no Kafka package and no Docker engine runs here, hence the jars.
Test-only settings (no initial rebalance delay) are passed by the caller, not
baked in. With ``sasl_users`` a second listener speaks SASL_SSL (PLAIN and
SCRAM-SHA-256 for those users) with a CA and a broker certificate made by
``openssl`` for this broker alone; the plaintext listener stays for tooling.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
POM = ROOT / "deploy" / "kafka" / "pom.xml"
CACHE = Path(os.environ.get("AFFECTWATCH_KAFKA_CACHE", Path.home() / ".cache" / "affectwatch" / "kafka"))

LOG4J2 = """<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders><File name="file" fileName="${sys:kafka.logs.dir}/server.log">
    <PatternLayout pattern="[%d] %p %m (%c)%n"/></File></Appenders>
  <Loggers><Root level="INFO"><AppenderRef ref="file"/></Root>
    <Logger name="kafka.request.logger" level="WARN"/><Logger name="state.change.logger" level="WARN"/></Loggers>
</Configuration>
"""


def kafka_version() -> str:
    text = POM.read_text()
    return text.split("<kafka.version>")[1].split("</kafka.version>")[0]


def resolve_jars(cache: Path = CACHE) -> Path:
    """Copy Kafka and its runtime dependencies into cache/<version>-<pom digest>/ (once per pom)."""
    target = cache / f"{kafka_version()}-{hashlib.sha256(POM.read_bytes()).hexdigest()[:8]}"
    stamp = target / ".complete"
    if stamp.exists():
        return target
    if shutil.which("mvn") is None:
        raise RuntimeError("Maven (mvn) is needed to resolve the Kafka jars from Maven Central")
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={tmp}",
            "-DincludeScope=runtime",
        ],
        check=True,
    )
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    stamp.touch()
    return target


def cluster_id() -> str:
    """A random cluster id, never starting with '-': the storage tool would read
    such an id as an option and refuse to format (1 start in 64 failed)."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LocalKafka:
    """One broker+controller on 127.0.0.1; ``start`` blocks until it serves."""

    port: int = 0
    controller_port: int = 0
    data_dir: Path | None = None
    extra: dict[str, str] = field(default_factory=dict)
    heap: str = "512m"
    proc: subprocess.Popen | None = None
    sasl_users: dict[str, str] | None = None  # user -> password, served on a SASL_SSL listener
    secure_port: int = 0
    node_id: int = 1
    voters: str = ""  # controller.quorum.voters of a cluster; empty: this node alone
    cluster_id: str = ""  # shared by a cluster's nodes; empty: a new one
    replication: int = 1  # of the broker's own topics (offsets, transactions) and new topics' default

    def __post_init__(self) -> None:
        self.port = self.port or free_port()
        self.controller_port = self.controller_port or free_port()
        if self.sasl_users:
            self.secure_port = self.secure_port or free_port()
        self.voters = self.voters or f"{self.node_id}@127.0.0.1:{self.controller_port}"
        self._own_dir = self.data_dir is None
        self.data_dir = Path(self.data_dir or tempfile.mkdtemp(prefix="affectwatch-kafka-"))
        self.cluster_id = self.cluster_id or cluster_id()
        self._formatted = False

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def secure_bootstrap(self) -> str:
        return f"127.0.0.1:{self.secure_port}"

    @property
    def ca_file(self) -> Path:
        assert self.data_dir is not None
        return self.data_dir / "tls" / "ca.pem"

    def _make_certificates(self) -> Path:
        """A throw-away CA and a broker certificate for 127.0.0.1 / localhost (PEM)."""
        assert self.data_dir is not None
        tls = self.data_dir / "tls"
        tls.mkdir(parents=True, exist_ok=True)

        def ossl(*args: str) -> None:
            subprocess.run(["openssl", *args], cwd=tls, check=True, capture_output=True)

        ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=affectwatch test CA")
        ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key", "-out", "broker.csr",
             "-subj", "/CN=127.0.0.1")
        (tls / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        ossl("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "broker.pem", "-days", "2", "-extfile", "san.cnf")
        ossl("pkcs8", "-topk8", "-nocrypt", "-in", "broker.key", "-out", "broker.p8")
        keystore = tls / "keystore.pem"  # Kafka's PEM key store: the PKCS#8 key, then the chain
        keystore.write_text((tls / "broker.p8").read_text() + (tls / "broker.pem").read_text())
        return tls

    def _secure_properties(self) -> dict[str, str]:
        if not self.sasl_users:
            return {}
        tls = self._make_certificates()
        users = " ".join(f'user_{u}="{pw}"' for u, pw in self.sasl_users.items())
        return {
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},SASL_SSL://127.0.0.1:{self.secure_port},"
                         f"CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port},SASL_SSL://127.0.0.1:{self.secure_port}",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL",
            "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256",
            "listener.name.sasl_ssl.plain.sasl.jaas.config":
                f"org.apache.kafka.common.security.plain.PlainLoginModule required {users};",
            "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config":
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(tls / "keystore.pem"),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(tls / "ca.pem"),
        }

    def properties(self) -> str:
        rf = str(self.replication)
        # a write is acknowledged by all but one replica: one node may be lost without losing a write
        min_isr = str(max(1, self.replication - 1))
        props = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "controller.quorum.voters": self.voters,
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.data_dir / "data"),
            "num.partitions": "1",
            "offsets.topic.replication.factor": rf,
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": min_isr,
            "default.replication.factor": rf,
            "min.insync.replicas": min_isr,
            "transaction.state.log.num.partitions": "4",
            "auto.create.topics.enable": "false",
            **self._secure_properties(),
            **self.extra,
        }
        return "".join(f"{k}={v}\n" for k, v in props.items())

    def _java(self, main: str, *args: str) -> list[str]:
        jars = resolve_jars()
        return [
            "java",
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self.data_dir / 'logs'}",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.xml'}",
            "-cp",
            f"{jars}/*",
            main,
            *args,
        ]

    def format(self) -> None:
        (self.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        (self.data_dir / "log4j2.xml").write_text(LOG4J2)
        (self.data_dir / "server.properties").write_text(self.properties())
        if not (self.data_dir / "data" / "meta.properties").exists():
            # SCRAM credentials live in the cluster metadata: KRaft adds them at format time.
            scram = [a for u, pw in (self.sasl_users or {}).items()
                     for a in ("--add-scram", f"SCRAM-SHA-256=[name={u},password={pw}]")]
            subprocess.run(
                self._java(
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    self.cluster_id,
                    "-c",
                    str(self.data_dir / "server.properties"),
                    *scram,
                ),
                check=True,
                capture_output=True,
            )
        self._formatted = True

    def start(self, timeout: float = 60.0) -> LocalKafka:
        self.launch()
        self.wait_ready(timeout)
        return self

    def launch(self) -> None:
        """Starts the JVM without waiting (a cluster's nodes serve only once a quorum is up)."""
        if not self._formatted:
            self.format()
        with (self.data_dir / "logs" / "stdout.log").open("ab") as out:
            self.proc = subprocess.Popen(
                self._java("kafka.Kafka", str(self.data_dir / "server.properties")),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def freeze(self) -> None:
        """SIGSTOP: the node holds its connections and answers nothing (a VM paused, a GC stall)."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGCONT)

    def wait_ready(self, timeout: float) -> None:
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaConfigurationError, KafkaError

        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"Kafka exited with {self.proc.returncode}; see {self.data_dir / 'logs'}")
            try:
                admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000)
                admin.list_topics()
                admin.close()
                return
            except KafkaConfigurationError:
                raise
            except (KafkaError, OSError) as exc:  # not up yet
                last = exc
                time.sleep(0.3)
        raise TimeoutError(f"Kafka not ready on {self.bootstrap} after {timeout}s: {last}")

    def stop(self, timeout: float = 30.0) -> None:
        """Orderly shutdown (SIGTERM), then SIGKILL if it hangs."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGCONT)  # a frozen node cannot act on SIGTERM
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> LocalKafka:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("jars", help="resolve the jars into the cache")
    st = sub.add_parser("start", help="start a broker and wait (Ctrl-C stops it)")
    st.add_argument("--port", type=int, default=9092)
    st.add_argument("--controller-port", type=int, default=9093)
    st.add_argument("--data-dir", type=Path, default=None)
    st.add_argument("--nodes", type=int, default=1, help="nodes of one cluster (free ports when more than one)")
    args = ap.parse_args()
    if args.cmd == "jars":
        print(resolve_jars())
        return
    if args.nodes > 1:
        from streams.kafka.localcluster import LocalKafkaCluster

        with LocalKafkaCluster(args.nodes) as cluster:
            print(f"Kafka {kafka_version()}: {args.nodes} nodes ready on {cluster.bootstrap}; Ctrl-C stops them")
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()
        return
    k = LocalKafka(args.port, args.controller_port, args.data_dir)
    k.start()
    print(f"Kafka {kafka_version()} ready on {k.bootstrap} (data in {k.data_dir}); Ctrl-C stops it")
    try:
        assert k.proc is not None
        k.proc.wait()
    except KeyboardInterrupt:
        k.stop()


if __name__ == "__main__":
    main()
