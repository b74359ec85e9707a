"""Baselines the moral head must beat: the majority class and the Moral
Foundations Dictionary 2.0 lexicon (numpy and the standard library only)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from models.datasets import shared_data_dir
from models.labels import MORALS_AFFECT1 as MORALS

WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def load_mfd(path: Path | None = None) -> dict[str, set[str]]:
    """word -> foundations it names (virtue and vice merged, as in MFTC/MFRC)."""
    path = path or shared_data_dir() / "moral" / "lexicons" / "mfd2.0.dic"
    section, cats, words = 0, {}, {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() == "%":
            section += 1
            continue
        parts = line.split()
        if len(parts) < 2:
            continue
        if section == 1:
            cats[parts[0]] = parts[1].split(".")[0]
        else:
            words.setdefault(" ".join(parts[:-1]).lower(), set()).update(cats[c] for c in parts[-1:])
    return words


def lexicon_predict(texts: list[str], words: dict[str, set[str]],
                    labels: tuple[str, ...] = MORALS) -> np.ndarray:
    """A foundation is on when the text has any of its words; non-moral when none is.
    ``labels``: the five of affect-1, or all six (MFD's sanctity counts as purity)."""
    out = np.zeros((len(texts), len(labels)), dtype=bool)
    index = {("sanctity" if m == "purity" else m): j for j, m in enumerate(labels)}
    for i, text in enumerate(texts):
        found = set()
        for w in WORD.findall(text.lower()):
            found |= words.get(w, set())
        for f in found:
            if f in index:  # sanctity words have no label to count against here
                out[i, index[f]] = True
        out[i, -1] = not out[i, :-1].any()
    return out


def majority_predict(n: int) -> np.ndarray:
    out = np.zeros((n, len(MORALS)), dtype=bool)
    out[:, MORALS.index("non-moral")] = True
    return out
