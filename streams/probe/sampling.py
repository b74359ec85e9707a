"""Which scored posts the probe asks about (pure, reproducible).

A post is a candidate when it is human, belongs to one of the configured groups
and its id falls in the sampled share: the choice is a hash of the seed and the
post id, so it does not depend on the order posts arrive in, and the same seed
picks the same posts in every run. Per topic, group and event-time window at
most ``max_per_key`` candidates are taken (the ledger counts them, so the cap
holds across restarts).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.labels import DIMENSIONS
from streams.core.names import MAX_ID_CHARS, MAX_NAME_CHARS, name_problem


def chosen(post_id: str, rate: float, seed: int) -> bool:
    """True for about ``rate`` of all ids, the same ones for the same seed."""
    if rate >= 1:
        return True
    digest = hashlib.blake2b(f"{seed}\x00{post_id}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < rate


def window_of(created_ms: int, window_seconds: int) -> int:
    """Start (epoch ms) of the event-time window a post falls in."""
    size = window_seconds * 1000
    return created_ms - created_ms % size


@dataclass(frozen=True)
class Candidate:
    post_id: str
    text: str
    subject: str
    group: str
    created_ms: int
    top: dict[str, str]  # dimension -> the post's most probable label
    labels: dict[str, list[str]]  # dimension -> the post's predicted labels

    @property
    def key(self) -> tuple[str, str]:
        return self.subject, self.group


def candidate(score: dict[str, Any], groups: tuple[str, ...], rate: float, seed: int) -> Candidate | str:
    """The candidate a score record makes, or why it is not one
    (not_human, no_group, not_sampled, malformed)."""
    if score.get("stream") != "human":
        return "not_human"
    group = score.get("group")
    if group not in groups:
        return "no_group"
    try:
        post_id, text, topic = str(score["id"]), score["text"], str(score["topic"])
        created = int(score["created_at"])
        top = {d: names[int(np.argmax([float(score[d][n]) for n in names]))]
               for d, names in DIMENSIONS.items() if isinstance(score.get(d), dict)}
        labels = {d: [str(x) for x in score["labels"].get(d, [])] for d in top}
    except (KeyError, TypeError, ValueError, AttributeError):
        return "malformed"
    if not isinstance(text, str) or not text.strip():
        return "malformed"
    # A scores file may come from anywhere: what becomes a name in the answer must be one.
    if name_problem(post_id, MAX_ID_CHARS) or name_problem(topic, MAX_NAME_CHARS):
        return "malformed"
    if not chosen(post_id, rate, seed):
        return "not_sampled"
    return Candidate(post_id, text, topic, str(group), created, top, labels)
