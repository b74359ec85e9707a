"""Readers for the shared labeled data (../shared/data). No torch here.

The text of these sets must never be copied into the repository (Twitter
terms); code reads it from the shared folder at training and test time.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from models.labels import EMOTIONS
from models.labels import MORALS as MORALS_ALL
from models.labels import MORALS_AFFECT1 as MORALS

csv.field_size_limit(10_000_000)


class SharedDataMissing(RuntimeError):
    """The shared data folder is not where it should be."""


def _origin_checkout(root: Path) -> Path | None:
    """The local checkout this one was cloned from (its git ``origin`` is a path), if any."""
    config = root / ".git" / "config"
    if not config.is_file():
        return None
    in_origin = False
    for line in config.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if line.startswith("["):
            in_origin = line == '[remote "origin"]'
        elif in_origin and line.startswith("url"):
            url = line.split("=", 1)[1].strip().removeprefix("file://")
            return Path(url) if Path(url).is_dir() else None
    return None


def shared_data_dir() -> Path:
    """Locate the shared data: AFFECTWATCH_SHARED_DATA, else ../shared/data beside
    the project root, else beside the local checkout it was cloned from (a
    scratch clone elsewhere, as CI makes one, still finds the data)."""
    env = os.environ.get("AFFECTWATCH_SHARED_DATA")
    root = Path(__file__).resolve().parent.parent
    path = Path(env) if env else root.parent / "shared" / "data"
    origin = _origin_checkout(root)
    if not env and not path.is_dir() and origin is not None:
        path = origin.resolve().parent / "shared" / "data"
    if not path.is_dir():
        raise SharedDataMissing(
            f"shared data folder not found at {path}; clone the project beside shared/ or set AFFECTWATCH_SHARED_DATA"
        )
    return path


@dataclass(frozen=True)
class Example:
    text: str
    labels: tuple[int, ...]  # multi-hot in the order of the label set


def read_semeval_ec(split: str) -> list[Example]:
    """SemEval-2018 E-c tweets, 11 binary emotions (quoting off, as the data says)."""
    path = shared_data_dir() / "emotion" / "semeval2018_ec" / f"{split}.tsv"
    with path.open(encoding="utf-8") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader)
        assert tuple(header[2:]) == EMOTIONS, header
        return [Example(row[1], tuple(int(v) for v in row[2:13])) for row in reader]


def _moral_rows() -> list[dict[str, str]]:
    base = shared_data_dir() / "moral" / "mftc_mfrc"
    rows: list[dict[str, str]] = []
    for name in ("mftc_train.csv", "mfrc_train.csv"):
        with (base / name).open(encoding="utf-8", newline="") as fh:
            rows.extend(csv.DictReader(fh))
    return rows


def combine_annotators(label_sets: list[set[str]]) -> tuple[int, ...]:
    """Majority vote per foundation: a foundation is on when at least half of the
    annotators chose it (so one of two suffices); non-moral only when none is on."""
    n = len(label_sets)
    moral = [m for m in MORALS[:-1] if 2 * sum(m in s for s in label_sets) >= n]
    return (*tuple(int(m in moral) for m in MORALS[:-1]), int(not moral))


def read_moral(split: str, dev_share: float = 0.15) -> list[Example]:
    """MFTC + MFRC grouped by text; a stable hash of the text picks the dev split."""
    by_text: dict[str, list[set[str]]] = defaultdict(list)
    for row in _moral_rows():
        by_text[row["text"].strip()].append(set(row["labels5"].split("|")))
    out = []
    for text, sets in by_text.items():
        digest = int(hashlib.sha1(text.encode("utf-8")).hexdigest()[:8], 16)
        is_dev = digest / 0xFFFFFFFF < dev_share
        if (split == "dev") == is_dev:
            out.append(Example(text, combine_annotators(sets)))
    return sorted(out, key=lambda e: e.text)


def read_voc(split: str) -> list[tuple[str, int]]:
    """SemEval-2018 V-oc: (tweet, valence class -3..+3)."""
    path = shared_data_dir() / "emotion" / "semeval2018_voc" / f"{split}.tsv"
    with path.open(encoding="utf-8") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader)
        return [(row[1], int(row[3].split(":")[0])) for row in reader]


def read_eioc(emotion: str, split: str) -> list[tuple[str, int]]:
    """SemEval-2018 EI-oc: (tweet, intensity class 0..3) of one emotion."""
    path = shared_data_dir() / "emotion" / "semeval2018_eioc" / f"{emotion}-{split}.tsv"
    with path.open(encoding="utf-8", newline="") as fh:
        return [(r["Tweet"], int(r["Intensity Class"].split(":", 1)[0]))
                for r in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)]


# --- affect-2: six moral labels (purity from the MFRC vote counts), GoEmotions ---

MORALS6: tuple[str, ...] = MORALS_ALL  # affect-2's head: the run-time moral dimension
VOTERS = 3  # MFRC comments usually have three annotators; vote shares are votes / 3, capped at 1


@dataclass(frozen=True)
class SoftExample:
    """A text with soft targets in [0, 1] and a mask of the labels its source knows."""

    text: str
    targets: tuple[float, ...]
    known: tuple[int, ...]  # 0 where the source has no such label (MFTC has no purity)
    gold: tuple[int, ...]  # majority labels, what dev metrics are computed on
    source: str


def _is_dev(text: str, dev_share: float = 0.15) -> bool:
    digest = int(hashlib.sha1(text.encode("utf-8")).hexdigest()[:8], 16)
    return digest / 0xFFFFFFFF < dev_share


def _mfrc_vote_example(row: dict[str, str]) -> SoftExample:
    v = {k: int(row[k]) for k in ("care", "equality", "proportionality", "loyalty", "authority", "purity", "non_moral")}
    # Equality and proportionality are the two halves of the older `fairness`; an
    # annotator rarely picks both, so their votes add (capped at the voters).
    votes = {
        "care": v["care"],
        "fairness": min(v["equality"] + v["proportionality"], VOTERS),
        "loyalty": v["loyalty"],
        "authority": v["authority"],
        "purity": v["purity"],
    }
    gold = [int(votes[m] >= 2) for m in MORALS6[:-1]]
    gold.append(int(not any(gold)))
    soft = [min(votes[m], VOTERS) / VOTERS for m in MORALS6[:-1]]
    soft.append(min(v["non_moral"], VOTERS) / VOTERS)
    return SoftExample(row["text"].strip(), tuple(soft), (1,) * 6, tuple(gold), "mfrc_votes")


def read_moral6(split: str) -> list[SoftExample]:
    """MFTC + the full MFRC (vote counts) over six labels, grouped by text, 15% dev by a
    stable hash of the text. MFRC comments come from the vote file (soft targets =
    vote shares); MFTC tweets and the few MFRC comments only in the annotator file
    get the annotators' share per label, with purity unknown (masked)."""
    out: dict[str, SoftExample] = {}
    with (shared_data_dir() / "moral" / "mfrc_votes" / "train.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            ex = _mfrc_vote_example(row)
            if ex.text:
                out[ex.text] = ex
    by_text: dict[str, list[set[str]]] = defaultdict(list)
    for row in _moral_rows():
        text = row["text"].strip()
        if text and text not in out:
            by_text[text].append(set(row["labels5"].split("|")))
    for text, sets in by_text.items():
        n = len(sets)
        gold5 = combine_annotators(sets)  # care fairness loyalty authority non-moral
        shares = [sum(m in s for s in sets) / n for m in MORALS[:-1]]
        soft = (*shares, 0.0, sum("non-moral" in s for s in sets) / n)
        gold = (*gold5[:4], 0, gold5[4])
        out[text] = SoftExample(text, soft, (1, 1, 1, 1, 0, 1), gold, "mftc_mfrc")
    return sorted((e for t, e in out.items() if (split == "dev") == _is_dev(t)), key=lambda e: e.text)


def read_goemotions(split: str) -> tuple[list[Example], tuple[str, ...]]:
    """GoEmotions (28 labels incl. neutral), multi-hot."""
    base = shared_data_dir() / "emotion" / "goemotions" / "original"
    labels = tuple((base / "labels.txt").read_text(encoding="utf-8").split())
    out = []
    with (base / f"{split}.tsv").open(encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 2:
                continue
            hot = [0] * len(labels)
            for i in parts[1].split(","):
                hot[int(i)] = 1
            out.append(Example(parts[0], tuple(hot)))
    return out, labels
