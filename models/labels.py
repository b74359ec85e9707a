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

# Moral foundations present in MFTC/MFRC (purity/sanctity has no labels there,
# see models/artifacts/MODEL_CARD.md), plus the non-moral class.
MORALS: tuple[str, ...] = ("care", "fairness", "loyalty", "authority", "non-moral")

DIMENSIONS: dict[str, tuple[str, ...]] = {"emotion": EMOTIONS, "moral": MORALS}
