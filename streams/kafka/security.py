"""How every Kafka client of the project connects: PLAINTEXT, SSL, SASL_PLAINTEXT
or SASL_SSL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), from the settings' Kafka group.

faust, aiokafka and kafka-python each spell these differently; this module is
the one place that translates, so no client can be left on plaintext.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any, TypeVar

from kafka.errors import KafkaTimeoutError

from streams.settings.groups import KafkaSettings

T = TypeVar("T")


def ssl_context(kafka: KafkaSettings) -> ssl.SSLContext | None:
    """A verifying TLS context for SSL and SASL_SSL, else None."""
    if kafka.security_protocol not in ("SSL", "SASL_SSL"):
        return None
    cafile = str(kafka.ssl_cafile) if kafka.ssl_cafile else None
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    ctx.check_hostname = kafka.ssl_check_hostname
    if kafka.ssl_certfile is not None:
        ctx.load_cert_chain(str(kafka.ssl_certfile), str(kafka.ssl_keyfile))
    return ctx


def _password(kafka: KafkaSettings) -> str | None:
    secret = kafka.sasl_password
    return None if secret is None else secret.get_secret_value()


def client_kwargs(kafka: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments for aiokafka and kafka-python clients (they share these names)."""
    protocol = kafka.security_protocol
    out: dict[str, Any] = {"security_protocol": protocol,
                           "request_timeout_ms": int(kafka.request_timeout_seconds * 1000)}
    ctx = ssl_context(kafka)
    if ctx is not None:
        out["ssl_context"] = ctx
    if protocol.startswith("SASL_"):
        out.update(
            sasl_mechanism=kafka.sasl_mechanism,
            sasl_plain_username=kafka.sasl_username,
            sasl_plain_password=_password(kafka),
        )
    return out


def faust_credentials(kafka: KafkaSettings) -> Any:
    """``broker_credentials`` for the faust app (None for PLAINTEXT)."""
    import faust

    protocol = kafka.security_protocol
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return faust.SSLCredentials(ssl_context(kafka))
    return faust.SASLCredentials(
        username=kafka.sasl_username,
        password=_password(kafka),
        mechanism=kafka.sasl_mechanism,
        ssl_context=ssl_context(kafka),  # None: SASL_PLAINTEXT
    )


BOOTSTRAP_ATTEMPT_MS = 10_000  # per bootstrap server: a frozen one accepts the connection and never answers


def connected(make: Callable[..., T], kafka: KafkaSettings, **options: Any) -> T:
    """A kafka-python client (``KafkaProducer``, ``KafkaConsumer``, ``KafkaAdminClient``),
    bootstrapped from the first of the settings' servers that answers.

    kafka-python gives one bootstrap attempt the whole bootstrap timeout, at a server it
    picks at random: a frozen broker (its connections accepted by the kernel, nothing
    answered) would fail the client while two others serve. Each server gets its own
    attempt here; once connected, the client learns every broker from the metadata."""
    servers = [s.strip() for s in kafka.bootstrap.split(",") if s.strip()]
    common = {**client_kwargs(kafka), **options}  # an SSL context is built once, not per server
    if len(servers) < 2:
        return make(bootstrap_servers=kafka.bootstrap, **common)
    timing = {"bootstrap_timeout_ms": min(BOOTSTRAP_ATTEMPT_MS, int(kafka.request_timeout_seconds * 1000))}
    last: Exception | None = None
    for server in servers:
        try:
            return make(bootstrap_servers=server, **timing, **common)
        except KafkaTimeoutError as exc:  # kafka-python's 'Unable to bootstrap'
            last = exc
    raise last  # type: ignore[misc]  # two or more servers: at least one attempt failed
