"""The probe's loop: scored posts in, sampled into the ledger, asked of every
endpoint under each of its profiles, answers out as ``lm-responses`` records.

Asking runs in a thread pool per endpoint (its ``concurrency``), paced by its
rate limiter and held to its token budget per wall-clock window; the ledger and
the sink are touched from the calling thread only.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from streams.core.records import iso
from streams.probe.ledger import Ledger, Prompt
from streams.probe.limits import RateLimiter, budget_window
from streams.probe.metrics import ProbeMetrics
from streams.probe.profiles import Endpoint, ProbeConfig
from streams.probe.sampling import candidate, window_of
from streams.probe.sinks import Sink
from streams.review.chat import ChatClient, ChatConfig, ChatError

log = logging.getLogger(__name__)


def answer_id(endpoint: str, profile: str, post_id: str) -> str:
    """Stable id of an answer: the same prompt always makes the same id."""
    digest = hashlib.sha256(f"{endpoint}\x00{profile}\x00{post_id}".encode("utf-8", "surrogatepass")).hexdigest()
    return f"probe-{digest[:24]}"


@dataclass
class Options:
    groups: tuple[str, ...]
    rate: float
    seed: int
    max_per_key: int
    window_seconds: int
    budget_window_seconds: int
    retry_seconds: float
    answer_time: str = "post"
    max_post_chars: int = 2000

    @classmethod
    def of(cls, settings: Any) -> Options:
        return cls(
            groups=tuple(settings.groups.names), rate=settings.probe.sample_rate, seed=settings.probe.seed,
            max_per_key=settings.probe.max_per_subject_group, window_seconds=settings.probe.window_seconds,
            budget_window_seconds=settings.probe.budget_window_seconds, retry_seconds=settings.probe.retry_seconds,
            answer_time=settings.probe.answer_time, max_post_chars=settings.probe.max_post_chars,
        )


@dataclass
class AskResult:
    answered: int = 0
    failures: Counter = field(default_factory=Counter)  # reason -> prompts that failed this pass
    deferred: int = 0  # held back by a token budget

    def add(self, other: AskResult) -> None:
        self.answered += other.answered
        self.failures.update(other.failures)
        self.deferred += other.deferred


@dataclass
class _Reply:
    prompt: Prompt
    text: str | None
    tokens: int
    seconds: float
    reason: str | None
    requests: int
    window: int


class Probe:
    def __init__(self, config: ProbeConfig, options: Options, ledger: Ledger, sink: Sink,
                 metrics: ProbeMetrics | None = None, wall: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.config, self.opt, self.ledger, self.sink = config, options, ledger, sink
        self.metrics = metrics or ProbeMetrics()
        self.wall, self.sleep = wall, sleep
        self.endpoints = list(config.endpoints)
        self.by_name = {e.name: e for e in self.endpoints}
        self.asks = [(e.name, p) for e in self.endpoints for p in config.profiles_of(e)]
        self.keys = {e.name: e.api_key() for e in self.endpoints}  # a missing key fails here, at start
        self.limiters = {e.name: RateLimiter(e.requests_per_second) for e in self.endpoints}
        self.pools = {e.name: ThreadPoolExecutor(e.concurrency, thread_name_prefix=f"probe-{e.name[:20]}")
                      for e in self.endpoints}
        ledger.ensure_prompts(self.asks)
        started = wall()
        for e in self.endpoints:
            self.metrics.known(e.name, config.profiles_of(e), started)
        self._pending_gauges()

    def close(self) -> None:
        for pool in self.pools.values():
            pool.shutdown(wait=True)

    # --- sampling -----------------------------------------------------------------
    def offer(self, scores: Iterable[dict[str, Any]]) -> Counter:
        """Sample score records into the ledger; returns outcome counts
        (sampled, seen, capped, not_sampled, no_group, not_human, malformed)."""
        out: Counter = Counter()
        for score in scores:
            c = candidate(score, self.opt.groups, self.opt.rate, self.opt.seed) if isinstance(score, dict) \
                else "malformed"
            outcome = c if isinstance(c, str) else self.ledger.add_post(
                c, window_of(c.created_ms, self.opt.window_seconds), self.opt.max_per_key, self.asks)
            out[outcome] += 1
            self.metrics.posts.labels(outcome).inc()
        self._pending_gauges()
        return out

    # --- asking -------------------------------------------------------------------
    def resend(self) -> int:
        """Send answers that were stored but not yet sent (a kill came between)."""
        stored = self.ledger.unemitted()
        if stored:
            self.sink.emit([record for _, record in stored])
            self.ledger.emitted([key for key, _ in stored])
        return len(stored)

    def ask(self, limit_per_endpoint: int = 1_000_000, respect_backoff: bool = True) -> AskResult:
        """One pass: every due pending prompt (up to a limit per endpoint) is asked once."""
        result = AskResult()
        futures: list[Future[_Reply]] = []
        for e in self.endpoints:
            profiles = self.config.profiles_of(e)
            due = self.ledger.pending(e.name, profiles, limit_per_endpoint,
                                      self.opt.retry_seconds if respect_backoff else 0.0)
            window = budget_window(self.wall(), self.opt.budget_window_seconds)
            used = self.ledger.budget_used(e.name, window)
            for k, prompt in enumerate(due):
                profile = self.config.profiles[prompt.profile]
                # what this prompt may cost at most: its text (about 4 characters a token) and its answer
                cost = (len(prompt.post.text[: self.opt.max_post_chars]) + len(profile.system) + len(profile.user)) \
                    // 4 + profile.max_tokens
                if used + cost > e.budget_tokens:
                    result.deferred += len(due) - k
                    self.metrics.deferred.labels(e.name).inc(len(due) - k)
                    break
                used += cost
                futures.append(self.pools[e.name].submit(self._ask_one, e, prompt, window))
        for future in as_completed(futures):
            self._take(future.result(), result)
        self._pending_gauges()
        if self.ledger.counts()["answered"]:  # answers a failed send left behind
            self.resend()
        return result

    def _ask_one(self, e: Endpoint, prompt: Prompt, window: int) -> _Reply:
        profile = self.config.profiles[prompt.profile]
        post = prompt.post
        failures = self.metrics.failures
        client = ChatClient(
            ChatConfig(e.url, e.model, self.keys[e.name], e.timeout_seconds, e.retries, e.backoff_seconds,
                       max_tokens=profile.max_tokens, budget_tokens=2**62),
            sleep=self.sleep, on_failure=lambda reason: failures.labels(e.name, reason).inc(),
        )
        self.limiters[e.name].acquire()
        t0 = time.perf_counter()
        try:
            text = client.complete(profile.messages(post.text[: self.opt.max_post_chars], post.subject, post.group),
                                   profile.sampling())
        except ChatError as exc:
            return _Reply(prompt, None, 0, time.perf_counter() - t0, exc.reason, client.calls, window)
        return _Reply(prompt, text, client.last_tokens, time.perf_counter() - t0, None, client.calls, window)

    def _take(self, reply: _Reply, result: AskResult) -> None:
        m, p = self.metrics, reply.prompt
        m.requests.labels(p.endpoint).inc(reply.requests)
        if reply.text is None:
            self.ledger.failed(p, reply.reason or "error")
            result.failures[reply.reason or "error"] += 1
            return
        record = self._record(p, reply)
        self.ledger.answered(p, record, reply.tokens, reply.window)  # stored: never asked again
        try:
            self.sink.emit([record])
        except Exception as exc:  # the broker or the disk: the answer waits in the ledger, sent later
            m.sink_failures.inc()
            log.warning("could not send answer %s (%s: %s); it is kept and sent again", record["id"],
                        type(exc).__name__, exc)
        else:
            self.ledger.emitted([p.key])
        result.answered += 1
        m.tokens.labels(p.endpoint).inc(reply.tokens)
        m.latency.labels(p.endpoint).observe(reply.seconds)
        m.answers.labels(p.endpoint, p.profile).inc()
        m.last_answer.labels(p.endpoint).set(self.wall())

    def _record(self, p: Prompt, reply: _Reply) -> dict[str, Any]:
        now_ms = int(self.wall() * 1000)
        e = self.by_name[p.endpoint]
        return {
            "id": answer_id(p.endpoint, p.profile, p.post.post_id),
            "model": p.endpoint,
            "steering": p.profile,
            "text": reply.text,
            "created_at": p.post.created_ms if self.opt.answer_time == "post" else now_ms,
            "prompt_id": p.post.post_id,
            "topic": p.post.subject,
            "prompt_group": p.post.group,
            "prompt_top": p.post.top,
            "prompt_labels": p.post.labels,
            "answered_at": iso(now_ms),
            "endpoint_model": e.model,
            "tokens": reply.tokens,
        }

    def _pending_gauges(self) -> None:
        for e in self.endpoints:
            self.metrics.pending.labels(e.name).set(self.ledger.counts(e.name)["pending"])

    # --- file mode ---------------------------------------------------------------
    def drain(self, rounds: int) -> AskResult:
        """Ask until nothing is pending or ``rounds`` passes are done; failing
        prompts wait ``retry_seconds`` (doubling) between passes."""
        total = AskResult()
        self.resend()
        for r in range(rounds):
            res = self.ask(respect_backoff=False)
            total.answered += res.answered
            total.deferred = res.deferred
            total.failures = res.failures  # what still fails after the last pass
            if not res.failures or r == rounds - 1:
                break
            self.sleep(self.opt.retry_seconds * 2**r)
        return total
