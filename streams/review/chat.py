"""A small client for any OpenAI-compatible chat endpoint (``/chat/completions``):
timeouts, retries with exponential backoff, and a token budget. Standard
library only. The reviewer, ``dike rewrite`` and the probe talk through it."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from streams.safe_files import redact_url


class ChatError(RuntimeError):
    """The endpoint failed, or answered with something that is not a chat reply.

    ``reason`` is machine-readable: timeout, connection, http_429, http_5xx,
    http_4xx, malformed, empty or budget."""

    def __init__(self, message: str, reason: str = "error") -> None:
        super().__init__(message)
        self.reason = reason


class BudgetExceeded(ChatError):
    def __init__(self, message: str) -> None:
        super().__init__(message, "budget")


def failure_reason(exc: BaseException) -> str:
    """The machine-readable reason of one failed attempt."""
    if isinstance(exc, urllib.error.HTTPError):
        if exc.code == 429:
            return "http_429"
        return "http_5xx" if exc.code >= 500 else "http_4xx"
    if isinstance(exc, TimeoutError) or "timed out" in str(exc):  # socket.timeout is TimeoutError
        return "timeout"
    if isinstance(exc, OSError):
        return "connection"
    if isinstance(exc, EmptyReply):
        return "empty"
    return "malformed"


class EmptyReply(ValueError):
    pass


@dataclass
class ChatConfig:
    url: str  # base URL, e.g. http://127.0.0.1:8000/v1
    model: str
    api_key: str | None = None
    timeout_seconds: float = 60.0
    retries: int = 3
    backoff_seconds: float = 1.0
    max_tokens: int = 300
    budget_tokens: int = 40_000


class ChatClient:
    def __init__(
        self,
        cfg: ChatConfig,
        sleep: Callable[[float], None] = time.sleep,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.sleep = sleep
        self.on_failure = on_failure  # told the reason of every failed attempt (for metrics)
        self.used_tokens = 0
        self.calls = 0
        self.last_tokens = 0

    def reset_budget(self) -> None:
        self.used_tokens = 0

    def complete(self, messages: list[dict[str, str]], sampling: dict[str, Any] | None = None) -> str:
        """The reply's text; retries transient failures, raises ChatError when they persist.

        ``sampling`` overrides temperature, top_p and max_tokens (or adds, say,
        response_format) for this call."""
        if self.used_tokens >= self.cfg.budget_tokens:
            raise BudgetExceeded(f"token budget of {self.cfg.budget_tokens} used up")
        request: dict = {"model": self.cfg.model, "messages": messages, "max_tokens": self.cfg.max_tokens,
                         "temperature": 0.7}
        request.update(sampling or {})
        body = json.dumps(request).encode()
        headers = {"Content-Type": "application/json"}
        if self.cfg.api_key:
            headers["Authorization"] = f"Bearer {self.cfg.api_key}"
        url = self.cfg.url.rstrip("/") + "/chat/completions"
        last: Exception | None = None
        for attempt in range(self.cfg.retries + 1):
            if attempt:
                self.sleep(self.cfg.backoff_seconds * 2 ** (attempt - 1))
            self.calls += 1
            try:
                req = urllib.request.Request(url, data=body, headers=headers, method="POST")
                with urllib.request.urlopen(req, timeout=self.cfg.timeout_seconds) as r:
                    reply = json.loads(r.read())
                text = reply["choices"][0]["message"]["content"]
                if not isinstance(text, str):
                    raise ValueError("the reply's content is not a string")
                if not text.strip():
                    raise EmptyReply("empty reply")
            except urllib.error.HTTPError as exc:
                last = exc
                if self.on_failure:
                    self.on_failure(failure_reason(exc))
                if exc.code < 500 and exc.code != 429:  # a request we got wrong: retrying will not help
                    raise ChatError(f"{redact_url(url)}: HTTP {exc.code} {exc.reason}", failure_reason(exc)) from exc
                continue
            except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:  # network, timeout, bad JSON
                last = exc
                if self.on_failure:
                    self.on_failure(failure_reason(exc))
                continue
            usage = reply.get("usage") if isinstance(reply, dict) else None
            tokens = usage.get("total_tokens") if isinstance(usage, dict) else None
            # Endpoints that do not report usage are charged an estimate (4 characters a token).
            self.last_tokens = int(tokens) if isinstance(tokens, int) and tokens >= 0 else (len(body) + len(text)) // 4
            self.used_tokens += self.last_tokens
            return text
        raise ChatError(f"{redact_url(url)}: no valid reply after {self.cfg.retries + 1} attempts: {last}",
                        failure_reason(last) if last else "error")
