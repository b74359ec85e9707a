"""Ideological group of a human author from the news domains they share.

A domain table maps domains to a partisan score in [-1, +1] (Robertson et al.
2018: -1 shared only by Democrats, +1 only by Republicans). An author's score
is the running mean over every scored domain they have shared; thresholds map
it to ``liberal`` / ``conservative`` / unassigned. An explicit group wins.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

UNASSIGNED = "unassigned"


def normalize_domain(value: str) -> str:
    """URL or host to a bare lower-case host: no scheme, port, path or ``www.``."""
    value = value.strip().lower()
    if "//" not in value:
        value = "//" + value
    try:
        host = urlsplit(value).hostname or ""
    except ValueError:
        return ""
    host = host.rstrip(".")
    if not host or any(c.isspace() for c in host) or "." not in host:
        return ""
    if host.startswith("www.") or (host[:3] == "www" and host[3:4].isdigit() and host[4:5] == "."):
        host = host.split(".", 1)[1]
    return host


class DomainTable:
    """domain -> partisan score, looked up on the host and then its parents."""

    def __init__(self, scores: dict[str, float]) -> None:
        self.scores = {normalize_domain(d): s for d, s in scores.items() if normalize_domain(d)}

    @classmethod
    def load(cls, path: Path) -> DomainTable:
        """Robertson 2018's CSV (``domain,score,...``) or a plain ``domain,score`` CSV."""
        scores: dict[str, float] = {}
        with Path(path).open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or not {"domain", "score"} <= set(reader.fieldnames):
                raise ValueError(f"{path}: a domain table needs 'domain' and 'score' columns")
            for row in reader:
                try:
                    score = float(row["score"])
                except (TypeError, ValueError):
                    continue
                if -1.0 <= score <= 1.0:
                    scores[row["domain"]] = score
        return cls(scores)

    def score(self, url_or_domain: str) -> float | None:
        host = normalize_domain(url_or_domain)
        # Walk up the subdomains (news.bbc.co.uk -> bbc.co.uk -> co.uk) but never
        # to a bare label such as "com".
        while "." in host:
            if host in self.scores:
                return self.scores[host]
            host = host.split(".", 1)[1]
        return None

    def scores_of(self, urls: list[str], domains: list[str]) -> list[float]:
        found = (self.score(x) for x in [*urls, *domains])
        return [s for s in found if s is not None]


@dataclass(frozen=True)
class AuthorScore:
    """Running sum and count of an author's domain scores (a table value)."""

    total: float = 0.0
    n: int = 0

    def add(self, scores: list[float]) -> AuthorScore:
        return AuthorScore(self.total + sum(scores), self.n + len(scores))

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n else None


def group_of(author: AuthorScore, liberal_max: float, conservative_min: float) -> str:
    mean = author.mean
    if mean is None:
        return UNASSIGNED
    if mean <= liberal_max:
        return "liberal"
    if mean >= conservative_min:
        return "conservative"
    return UNASSIGNED
