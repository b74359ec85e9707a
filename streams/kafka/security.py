"""How every Kafka client of the project connects: PLAINTEXT, SSL, SASL_PLAINTEXT
or SASL_SSL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), from the one settings object.

faust, aiokafka and kafka-python each spell these differently; this module is
the one place that translates, so no client can be left on plaintext.
"""

from __future__ import annotations

import ssl
from typing import Any

from streams.settings import Settings


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """A verifying TLS context for SSL and SASL_SSL, else None."""
    if settings.kafka_security_protocol not in ("SSL", "SASL_SSL"):
        return None
    cafile = str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    ctx.check_hostname = settings.kafka_ssl_check_hostname
    if settings.kafka_ssl_certfile is not None:
        ctx.load_cert_chain(str(settings.kafka_ssl_certfile), str(settings.kafka_ssl_keyfile))
    return ctx


def _password(settings: Settings) -> str | None:
    secret = settings.kafka_sasl_password
    return None if secret is None else secret.get_secret_value()


def client_kwargs(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for aiokafka and kafka-python clients (they share these names)."""
    protocol = settings.kafka_security_protocol
    out: dict[str, Any] = {"security_protocol": protocol}
    ctx = ssl_context(settings)
    if ctx is not None:
        out["ssl_context"] = ctx
    if protocol.startswith("SASL_"):
        out.update(
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_plain_username=settings.kafka_sasl_username,
            sasl_plain_password=_password(settings),
        )
    return out


def faust_credentials(settings: Settings) -> Any:
    """``broker_credentials`` for the faust app (None for PLAINTEXT)."""
    import faust

    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return faust.SSLCredentials(ssl_context(settings))
    return faust.SASLCredentials(
        username=settings.kafka_sasl_username,
        password=_password(settings),
        mechanism=settings.kafka_sasl_mechanism,
        ssl_context=ssl_context(settings),  # None: SASL_PLAINTEXT
    )
