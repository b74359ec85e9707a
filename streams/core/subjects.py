"""Subject assignment: explicit topic, then keyword/hashtag rules, then the
nearest centroid of the classifier's pooled embedding, else ``other``.

Only topics named in the topics file (plus ``other``) ever become metric
labels, which bounds the cardinality of every figure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import ahocorasick
import numpy as np
import yaml

OTHER = "other"
# The only non-ASCII characters that Python's case-insensitive regex matching
# equates with ASCII letters (tests/core/test_topics.py recomputes this over all of
# Unicode). Mapping them first makes ``lower()`` agree with the regex on ASCII.
_FOLDS = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})
ALL = "all"  # the aggregate over every topic, always reported


@dataclass(frozen=True)
class Subject:
    name: str
    keywords: tuple[str, ...] = ()
    hashtags: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()


@dataclass
class Subjects:
    topics: list[Subject]
    min_similarity: float = 0.35
    centroids: np.ndarray | None = None  # (n_topics, dim), unit rows; None: rules only
    _patterns: list[re.Pattern[str] | None] = field(init=False, repr=False)
    _any: re.Pattern[str] | None = field(init=False, repr=False)
    _owners: ahocorasick.Automaton | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        names = [t.name for t in self.topics]
        if len(set(names)) != len(names) or OTHER in names or ALL in names:
            raise ValueError(f"topic names must be unique and not {OTHER!r} or {ALL!r}: {names}")
        self._patterns = [self._compile(t) for t in self.topics]
        # One scan decides whether any rule can match: most texts match none,
        # and then the per-topic counts are skipped.
        alts = [p.pattern for p in self._patterns if p is not None]
        self._any = re.compile("|".join(f"(?:{a})" for a in alts), re.IGNORECASE) if alts else None
        # Faster still: a rule can match a text only if one of its keywords is
        # a substring of the text folded as the regex folds it (_FOLDS, then
        # lower(); exact for ASCII keywords). One Aho-Corasick pass finds every
        # such substring and the topics that own it, so the regexes run only
        # for those topics (a combined regex alternation took 13 us a text, the
        # per-topic substring tests 15 us; the automaton about 1 us).
        owners: dict[str, set[int]] = {}
        for j, t in enumerate(self.topics):
            for k in [k.lower() for k in t.keywords] + ["#" + h.lower().lstrip("#") for h in t.hashtags]:
                owners.setdefault(k, set()).add(j)
        self._owners = None
        if alts and all(k and k.isascii() for k in owners):  # an empty keyword matches everywhere
            self._owners = ahocorasick.Automaton()
            for k, js in owners.items():
                self._owners.add_word(k, tuple(sorted(js)))
            self._owners.make_automaton()

    @staticmethod
    def _compile(t: Subject) -> re.Pattern[str] | None:
        words = [re.escape(k.lower()) for k in t.keywords]
        tags = [re.escape("#" + h.lower().lstrip("#")) for h in t.hashtags]
        if not words and not tags:
            return None
        alts = [rf"(?<![\w#]){w}(?!\w)" for w in words] + [rf"{h}(?!\w)" for h in tags]
        return re.compile("|".join(alts), re.IGNORECASE)

    @classmethod
    def load(cls, path: Path, min_similarity: float = 0.35, max_topics: int = 20) -> Subjects:
        data = yaml.safe_load(Path(path).read_text()) or {}
        items = data.get("topics", []) if isinstance(data, dict) else []
        if len(items) > max_topics:
            raise ValueError(f"{path}: {len(items)} topics, more than max_topics={max_topics}")
        topics = [
            Subject(
                name=str(item["name"]),
                keywords=tuple(map(str, item.get("keywords", []))),
                hashtags=tuple(map(str, item.get("hashtags", []))),
                examples=tuple(map(str, item.get("examples", []))),
            )
            for item in items
        ]
        return cls(topics, min_similarity)

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.topics]

    def fit_centroids(self, embed) -> None:
        """``embed(texts) -> (n, dim)`` unit vectors; topics without examples get none."""
        rows = []
        for t in self.topics:
            if t.examples:
                mean = np.asarray(embed(list(t.examples))).mean(0)
                rows.append(mean / max(float(np.linalg.norm(mean)), 1e-12))
            else:
                rows.append(None)
        dim = next((len(r) for r in rows if r is not None), 0)
        if dim:
            self.centroids = np.stack([r if r is not None else np.zeros(dim) for r in rows]).astype(np.float32)

    def by_rules(self, text: str) -> str | None:
        """The topic whose keywords and hashtags match most often (the first
        listed on a tie), None when none matches."""
        if self._any is None:
            return None
        if self._owners is not None:
            candidates: set[int] = set()
            for _, js in self._owners.iter(text.translate(_FOLDS).lower()):
                candidates.update(js)
            if len(candidates) == 1:  # most texts with a rule: nothing to count against
                (j,) = candidates
                pattern = self._patterns[j]
                return self.topics[j].name if pattern is not None and pattern.search(text) else None
            order = sorted(candidates)
        else:
            if self._any.search(text) is None:
                return None
            order = list(range(len(self.topics)))
        best, hits = None, 0
        for j in order:
            pattern = self._patterns[j]
            n = len(pattern.findall(text)) if pattern is not None else 0
            if n > hits:
                best, hits = self.topics[j].name, n
        return best

    def assign(self, explicit: str | None, text: str, embedding: np.ndarray | None) -> tuple[str, str]:
        """(topic, how): how is explicit, explicit_unknown, rule, centroid or none."""
        if explicit:
            if explicit in self.names:
                return explicit, "explicit"
            return OTHER, "explicit_unknown"
        ruled = self.by_rules(text)
        if ruled:
            return ruled, "rule"
        if self.centroids is not None and embedding is not None:
            sims = self.centroids @ np.asarray(embedding, dtype=np.float32)
            j = int(np.argmax(sims))
            if sims[j] >= self.min_similarity:
                return self.topics[j].name, "centroid"
        return OTHER, "none"
