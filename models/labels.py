"""Label sets of the shipped classifier heads, in output order."""

from __future__ import annotations

# SemEval-2018 Task 1 E-c (SpanEmo's set), in the column order of the data.
EMOTIONS: tuple[str, ...] = (
    "anger",
    "anticipation",
    "disgust",
    "fear",
    "joy",
    "love",
    "optimism",
    "pessimism",
    "sadness",
    "surprise",
    "trust",
)

# The moral dimension: the five foundations of Moral Foundations Theory, plus the
# non-moral class. A graph says in its meta.json which of them it measures.
MORALS: tuple[str, ...] = ("care", "fairness", "loyalty", "authority", "purity", "non-moral")

# affect-1's moral head (MFTC and the first Reddit sample had no purity labels,
# see models/artifacts/MODEL_CARD.md): its purity probability reads as 0 and its
# purity label is never set.
MORALS_AFFECT1: tuple[str, ...] = ("care", "fairness", "loyalty", "authority", "non-moral")

DIMENSIONS: dict[str, tuple[str, ...]] = {"emotion": EMOTIONS, "moral": MORALS}
