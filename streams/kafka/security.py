"""How every Kafka client of the project connects: PLAINTEXT, SSL, SASL_PLAINTEXT
or SASL_SSL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), from the settings' Kafka group.

faust, aiokafka and kafka-python each spell these differently; this module is
the one place that translates, so no client can be left on plaintext.
"""

from __future__ import annotations

import ssl
from typing import Any

from streams.settings.groups import KafkaSettings


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
    out: dict[str, Any] = {"security_protocol": protocol}
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
