"""A small client for any OpenAI-compatible chat endpoint (``/chat/completions``):
timeouts, retries with exponential backoff, and a token budget. Standard
library only: the reviewer is the one part that talks to it."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from streams.safe_files import redact_url


class ChatError(RuntimeError):
    """The endpoint failed, or answered with something that is not a chat reply."""


class BudgetExceeded(ChatError):
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
    def __init__(self, cfg: ChatConfig, sleep: Callable[[float], None] = time.sleep) -> None:
        self.cfg = cfg
        self.sleep = sleep
        self.used_tokens = 0
        self.calls = 0

    def reset_budget(self) -> None:
        self.used_tokens = 0

    def complete(self, messages: list[dict[str, str]]) -> str:
        """The reply's text; retries transient failures, raises ChatError when they persist."""
        if self.used_tokens >= self.cfg.budget_tokens:
            raise BudgetExceeded(f"token budget of {self.cfg.budget_tokens} used up")
        body = json.dumps({"model": self.cfg.model, "messages": messages, "max_tokens": self.cfg.max_tokens,
                           "temperature": 0.7}).encode()
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
                if not isinstance(text, str) or not text.strip():
                    raise ValueError("empty reply")
            except urllib.error.HTTPError as exc:
                last = exc
                if exc.code < 500 and exc.code != 429:  # a request we got wrong: retrying will not help
                    raise ChatError(f"{redact_url(url)}: HTTP {exc.code} {exc.reason}") from exc
                continue
            except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:  # network, timeout, bad JSON
                last = exc
                continue
            usage = reply.get("usage") or {}
            tokens = usage.get("total_tokens")
            # Endpoints that do not report usage are charged an estimate (4 characters a token).
            self.used_tokens += int(tokens) if isinstance(tokens, int) else (len(body) + len(text)) // 4
            return text
        raise ChatError(f"{redact_url(url)}: no valid reply after {self.cfg.retries + 1} attempts: {last}")
