"""Topic discovery: cluster texts by their embedding and draft a topics file.

The paper's topics are fine-grained and data-driven; a deployment's topics
file is a short list a person owns. ``discover`` bridges the two: it clusters
the classifier's embeddings of a sample of posts (k-means; k chosen by the
silhouette score unless given), names each cluster by its most distinctive
words (class-based TF-IDF: a word's frequency in the cluster against its
spread over all clusters) and picks the texts nearest each centroid as
examples. The result is a draft in the topics-file format (keywords and
examples) for a person to edit, not a file to deploy unread.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer
from sklearn.metrics import silhouette_score

from streams.core.subjects import ALL, OTHER

# Words of the medium, not of a subject.
_NOISE = frozenset({"http", "https", "www", "com", "amp", "rt", "just", "like", "people", "think", "know", "really",
                    "going", "get", "got", "don", "doesn", "didn", "isn", "im", "ve", "ll", "re", "say", "said",
                    "want", "make", "way", "thing", "things", "lot", "good", "time", "yes", "did", "does", "use"})
STOP_WORDS = sorted(ENGLISH_STOP_WORDS | _NOISE)
_HASHTAG = re.compile(r"(?<![\w#])#(\w{2,40})")
_NAME_OK = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class DraftTopic:
    name: str
    size: int
    keywords: tuple[str, ...]
    hashtags: tuple[str, ...]
    examples: tuple[str, ...]
    cohesion: float  # mean cosine of the cluster's texts to its centroid


@dataclass(frozen=True)
class Discovery:
    topics: list[DraftTopic]
    k: int
    silhouette: float | None  # of the chosen k (None when k was given and there was one cluster)
    tried: dict[int, float]  # k -> silhouette, when k was chosen


def choose_k(x: np.ndarray, ks: range, seed: int, sample: int = 2000) -> tuple[int, dict[int, float]]:
    """The k of ``ks`` with the best silhouette (cosine), on at most ``sample`` texts."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(x), size=min(sample, len(x)), replace=False)
    tried = {}
    for k in ks:
        if k >= len(idx):
            break
        labels = KMeans(k, n_init=4, random_state=seed).fit_predict(x[idx])
        if len(set(labels)) > 1:
            tried[k] = float(silhouette_score(x[idx], labels, metric="cosine"))
    if not tried:
        return 1, {}
    return max(tried, key=lambda k: (round(tried[k], 4), -k)), tried


def distinctive_terms(docs: list[str], n_terms: int) -> list[list[str]]:
    """Per cluster document, its most distinctive words and two-word phrases
    (class-based TF-IDF: term frequency in the cluster, normalised by its
    length, times log(1 + mean words per cluster / the term's total)); a term
    must occur at least twice in the cluster and not in every cluster."""
    vec = CountVectorizer(stop_words=STOP_WORDS, ngram_range=(1, 2), min_df=1,
                          token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]{2,}\b")
    counts = vec.fit_transform(docs).toarray().astype(float)
    if counts.size == 0:
        return [[] for _ in docs]
    words = vec.get_feature_names_out()
    tf = counts / np.maximum(counts.sum(1, keepdims=True), 1.0)
    idf = np.log1p(counts.sum(1).mean() / np.maximum(counts.sum(0), 1.0))
    score = tf * idf
    # A word of every cluster tells none apart (with a single cluster, keep them all).
    everywhere = (counts > 0).sum(0) == len(docs) if len(docs) > 1 else np.zeros(len(words), dtype=bool)
    out = []
    for row, raw in zip(score, counts, strict=True):
        order = [j for j in np.argsort(-row, kind="stable") if raw[j] >= 2 and not everywhere[j]]  # once: not yet
        picked: list[str] = []
        for j in order:
            w = str(words[j])
            # a phrase whose words are both picked, or a word inside a picked phrase, adds nothing
            if any(w in p.split() or p in w.split() for p in picked):
                continue
            picked.append(w)
            if len(picked) == n_terms:
                break
        out.append(picked)
    return out


def _name(terms: list[str], taken: set[str], index: int) -> str:
    base = "-".join(_NAME_OK.sub("-", t.lower()).strip("-") for t in terms[:2]) or f"topic-{index + 1}"
    base = base[:40].strip("-") or f"topic-{index + 1}"
    name, n = base, 2
    while name in taken or name in (OTHER, ALL):
        name, n = f"{base}-{n}", n + 1
    taken.add(name)
    return name


def discover(texts: list[str], embeddings: np.ndarray, k: int | None = None, max_k: int = 12,
             n_keywords: int = 8, n_examples: int = 3, min_size: int = 5, seed: int = 13,
             example_chars: int = 240) -> Discovery:
    """Clusters ``texts`` (with their unit ``embeddings``) into draft topics,
    largest first; clusters smaller than ``min_size`` are left out (their
    texts would fall to ``other``)."""
    if len(texts) != len(embeddings):
        raise ValueError(f"{len(texts)} texts but {len(embeddings)} embeddings")
    if len(texts) < 2 * min_size:
        raise ValueError(f"{len(texts)} texts: at least {2 * min_size} are needed for clusters of {min_size}")
    x = np.asarray(embeddings, dtype=np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    tried: dict[int, float] = {}
    if k is None:
        k, tried = choose_k(x, range(2, max(3, min(max_k, len(texts) // min_size) + 1)), seed)
    km = KMeans(k, n_init=10, random_state=seed).fit(x)
    labels = km.labels_
    sil = float(silhouette_score(x, labels, metric="cosine")) if len(set(labels)) > 1 else None
    clusters = sorted((c for c in range(k) if (labels == c).sum() >= min_size), key=lambda c: -(labels == c).sum())
    docs = [" ".join(texts[i] for i in np.flatnonzero(labels == c)) for c in clusters]
    terms = distinctive_terms(docs, n_keywords)
    taken: set[str] = set()
    out = []
    for n, (c, words) in enumerate(zip(clusters, terms, strict=True)):
        members = np.flatnonzero(labels == c)
        centre = x[members].mean(0)
        centre /= max(float(np.linalg.norm(centre)), 1e-12)
        sims = x[members] @ centre
        examples, seen = [], set()
        for i in members[np.argsort(-sims)]:
            t = " ".join(texts[i].split())[:example_chars]
            if t and t not in seen:
                seen.add(t)
                examples.append(t)
            if len(examples) == n_examples:
                break
        tags = Counter(h.lower() for i in members for h in _HASHTAG.findall(texts[i]))
        out.append(DraftTopic(
            name=_name(words, taken, n), size=len(members), keywords=tuple(words),
            hashtags=tuple(h for h, m in tags.most_common(5) if m >= 2), examples=tuple(examples),
            cohesion=round(float(sims.mean()), 4),
        ))
    return Discovery(out, k, sil, tried)


def to_yaml(found: Discovery, source: str, total: int) -> str:
    """The draft as a topics file, with a header that says what to do with it."""
    import yaml

    lines = [
        f"# Draft subjects from `affectwatch subjects discover {source}`: {total} texts, k = {found.k}"
        + (f", silhouette {found.silhouette:.3f}" if found.silhouette is not None else "") + ".",
        "# Edit before use: rename each topic (a name is a metric label: short, lowercase), drop keywords that",
        "# would match other subjects, keep examples that say the subject plainly, delete clusters that are",
        "# not subjects (moods, spam). Then point AFFECTWATCH_SUBJECTS_FILE at the edited file.",
    ]
    body = {"topics": [
        {"name": t.name, "keywords": list(t.keywords), **({"hashtags": list(t.hashtags)} if t.hashtags else {}),
         "examples": list(t.examples)} for t in found.topics
    ]}
    text = yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=110)
    # One comment above each topic with its size and cohesion.
    out, i = [], 0
    for line in text.splitlines():
        if line.startswith("- name:"):
            t = found.topics[i]
            out.append(f"# {t.size} texts ({t.size / total:.0%}), cohesion {t.cohesion:.2f}")
            i += 1
        out.append(line)
    return "\n".join(lines + out) + "\n"
