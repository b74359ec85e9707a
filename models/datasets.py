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

from models.labels import EMOTIONS, MORALS

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
