"""The probe's own Prometheus metrics (prefix ``affectwatch_probe_``).

Labels are the endpoint (its configured name), the profile and a failure
reason: all bounded by the probe file, never a post."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120)


class ProbeMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter("affectwatch_probe_requests", "HTTP requests sent to an endpoint (every attempt)",
                                ["endpoint"], registry=r)
        self.failures = Counter("affectwatch_probe_failures", "Failed requests by reason (each is retried later)",
                                ["endpoint", "reason"], registry=r)
        self.tokens = Counter("affectwatch_probe_tokens", "Tokens an endpoint charged (reported, or estimated)",
                              ["endpoint"], registry=r)
        self.latency = Histogram("affectwatch_probe_answer_latency_seconds",
                                 "Time from asking to a valid answer, retries included",
                                 ["endpoint"], buckets=LATENCY_BUCKETS, registry=r)
        self.answers = Counter("affectwatch_probe_answers", "Answers produced", ["endpoint", "profile"], registry=r)
        self.posts = Counter("affectwatch_probe_posts", "Scored records offered to the probe, by outcome",
                             ["outcome"], registry=r)
        self.sink_failures = Counter("affectwatch_probe_sink_failures",
                                     "Answers that could not be sent at once (kept in the ledger, sent later)",
                                     registry=r)
        self.deferred = Counter("affectwatch_probe_deferred", "Prompts held back by the token budget",
                                ["endpoint"], registry=r)
        self.pending = Gauge("affectwatch_probe_pending", "Prompts sampled and not yet answered", ["endpoint"],
                             registry=r)
        self.last_answer = Gauge("affectwatch_probe_last_answer_timestamp_seconds",
                                 "Wall time of an endpoint's last answer (start time until the first)",
                                 ["endpoint"], registry=r)

    def known(self, endpoint: str, profiles: list[str], started: float) -> None:
        """Series of an endpoint exist from the start, so rates and the silence alert see zeros."""
        self.requests.labels(endpoint)
        self.tokens.labels(endpoint)
        self.latency.labels(endpoint)  # buckets at 0 before the first answer, so its rate is seen
        self.deferred.labels(endpoint)
        self.last_answer.labels(endpoint).set(started)
        for p in profiles:
            self.answers.labels(endpoint, p)

    def serve(self, host: str, port: int) -> int:
        server, _ = start_http_server(port, addr=host, registry=self.registry)
        return server.server_address[1]
