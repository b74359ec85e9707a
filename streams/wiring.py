"""Builds the core objects from settings: one place for the embedded runner,
the demo and the workers, so they cannot drift apart."""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass

from models.classifier import Classifier
from streams.core.pipeline import Aggregator, Scorer, load_dike, load_domains, load_subjects
from streams.observe.metrics import Metrics
from streams.settings import Settings


def classifier_kwargs(settings: Settings) -> dict:
    return {
        "variant": settings.classifier.variant,
        "artifacts": settings.classifier.artifacts,
        "threads": settings.classifier.threads,
        "max_tokens": settings.classifier.max_tokens,
        "batch_size": settings.classifier.batch_size,
    }


def make_classifier(settings: Settings) -> Classifier:
    return Classifier(**classifier_kwargs(settings.require("classifier")))


@dataclass
class Core:
    settings: Settings
    classifier: Classifier
    scorer: Scorer
    aggregator: Aggregator
    metrics: Metrics


def build_core(
    settings: Settings,
    classifier: Classifier | None = None,
    authors: MutableMapping[str, dict] | None = None,
    windows: MutableMapping[str, dict] | None = None,
    metrics: Metrics | None = None,
) -> Core:
    settings.require("subjects", "dike", "groups")
    clf = classifier or make_classifier(settings)
    spectra, guardrails = load_dike(settings)
    scorer = Scorer(
        settings, clf, load_subjects(settings, clf), load_domains(settings), authors if authors is not None else {},
        spectra, guardrails,
    )
    aggregator = Aggregator(settings, windows if windows is not None else {}, spectra)
    return Core(settings, clf, scorer, aggregator, metrics or Metrics(settings.outputs.run_label))
