"""DIKE: emotion spectra, behavior spectra, Γ and guardrail violations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.labels import EMOTIONS
from streams.dike.behavior import BehaviorSpectrum, Gamma, top_m
from streams.dike.guardrails import Guardrail, gamma_path
from streams.dike.spectra import Spectra
from streams.embedded import EmbeddedRunner, read_inputs, write_outputs
from streams.settings import BUNDLED
from streams.wiring import build_core

LETTER = BUNDLED / "behavior" / "letter.yaml"
HOSTILITY = BUNDLED / "behavior" / "hostility.yaml"
probs = st.lists(st.floats(0, 1), min_size=len(EMOTIONS), max_size=len(EMOTIONS)).map(np.array)


def test_the_seven_spectra_of_table_1_with_their_endpoints():
    s = Spectra.load(BUNDLED / "spectra.yaml")
    ends = {sp.name: (sp.levels[0], sp.levels[-1]) for sp in s.spectra}
    assert ends == {
        "fear": ("terror", "heroism"), "joy": ("grief", "ecstasy"), "trust": ("distrust", "admiration"),
        "anticipation": ("reckless", "vigilance"), "anger": ("rage", "tranquility"),
        "disgust": ("loathing", "enthusiasm"), "surprise": ("distraction", "amazement"),
    }
    fear = next(sp for sp in s.spectra if sp.name == "fear")
    assert fear.named(-0.55) == "fear" and fear.named(0.05) == "calm"


@given(st.lists(probs, min_size=1, max_size=20))
@settings(max_examples=100, deadline=None)
def test_intensities_stay_in_range_and_the_mean_is_the_intensity_of_the_mean(rows):
    s = Spectra.load(BUNDLED / "spectra.yaml")
    each = [s.intensities(r) for r in rows]
    for d in each:
        assert all(-1 <= v <= 1 for v in d.values())
    mean = s.intensities(np.mean(rows, axis=0))
    for name in s.names:
        assert abs(mean[name] - np.mean([d[name] for d in each])) < 1e-5


def test_bad_spectrum_files_are_refused_with_their_reason(tmp_path: Path):
    bad = tmp_path / "s.yaml"
    bad.write_text("spectra:\n  - {name: x, levels: [a, b, c, d, e, f, g], positive: {joy: 0.8, love: 0.5}}\n")
    with pytest.raises(ValueError, match="sum to <= 1"):
        Spectra.load(bad)
    bad.write_text("spectra:\n  - {name: x, levels: [a, b, c, d, e, f, g], negative: {rage: 1}}\n")
    with pytest.raises(ValueError, match="unknown emotions"):
        Spectra.load(bad)
    b = tmp_path / "b.yaml"
    b.write_text("name: x\nlevels: [{name: a, intensity: 1}, {name: b, intensity: 0}]\nguardrail: {min: 0, max: 1}\n")
    with pytest.raises(ValueError, match="increasing"):
        BehaviorSpectrum.load(b)


def test_gamma_recovers_levels_from_their_emotions_and_round_trips(tmp_path: Path):
    spectrum = BehaviorSpectrum.load(LETTER)
    rng = np.random.default_rng(0)
    # Level k's texts favour emotion k (plus noise): Γ must learn that.
    levels = rng.integers(0, 7, 700)
    p = rng.random((700, len(EMOTIONS))) * 0.3
    p[np.arange(700), levels] += 0.7
    g = Gamma.fit(spectrum, p, levels, top=1)
    pred, conf = g.classify(p)
    assert np.mean(pred == levels) > 0.95 and np.all((conf > 0) & (conf <= 1))
    assert top_m(p[:1], 3).sum() == 3
    path = g.save(tmp_path / "x.gamma.json")
    again = Gamma.load(path)
    assert again.version == g.version and np.array_equal(again.classify(p)[0], pred)
    doc = json.loads(path.read_text())
    doc["counts"][0][0] += 1
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="does not match its version"):
        Gamma.load(path)


def test_probability_features_weigh_weak_emotions_weakly_and_keep_old_versions(tmp_path: Path):
    spectrum = BehaviorSpectrum.load(HOSTILITY)
    anger, joy = EMOTIONS.index("anger"), EMOTIONS.index("joy")
    strong, weak, happy = (np.full(len(EMOTIONS), 0.02) for _ in range(3))
    strong[anger], weak[anger], happy[joy] = 0.9, 0.2, 0.9
    x = np.vstack([strong, weak, happy])
    levels = np.array([spectrum.names.index(n) for n in ("hateful", "neutral", "warm")])
    # Three levels taught by one text each: hateful = strong anger, neutral = weak anger.
    probs = Gamma.fit(spectrum, np.repeat(x, 500, 0), np.repeat(levels, 500), features="probs")
    tally = Gamma.fit(spectrum, np.repeat(x, 500, 0), np.repeat(levels, 500), top=1)
    assert list(probs.classify(x)[0]) == list(levels)
    # A top-M tally cannot tell weak anger from strong anger: both are "anger first".
    assert tally.classify(weak[None])[0][0] == tally.classify(strong[None])[0][0]
    again = Gamma.load(probs.save(tmp_path / "p.gamma.json"))
    assert again.features == "probs" and again.version == probs.version
    # Files fitted before the option have no "features" key and keep their version.
    assert "features" not in tally.to_dict() and Gamma.load(gamma_path(LETTER, "letter")).features == "top_m"
    with pytest.raises(ValueError, match="features"):
        Gamma.fit(spectrum, x, levels, features="embedding")


def test_the_hostility_guardrail_is_on_by_default_and_passes_plain_opinions(classifier):
    from streams.settings import Settings

    assert Settings().dike.behavior_spectra == [HOSTILITY]
    rail = Guardrail.load(HOSTILITY)
    assert rail.gamma.features == "probs" and rail.gamma.classifier_version == classifier.version
    plain = ["Everyone is entitled to receive affordable healthcare.",
             "I think our government should enforce tougher environmental rules.",
             "Taxes on small businesses should be lower so they can hire more people."]
    assert all(j.allowed for j in rail.judge_many(classifier.predict(plain)[0]))


def test_shipped_guardrails_flag_a_hostile_reply_and_pass_a_kind_one(classifier):
    rails = [Guardrail.load(LETTER), Guardrail.load(HOSTILITY)]
    assert gamma_path(HOSTILITY, "hostility").is_file()
    emo = classifier.predict(["You are a pathetic idiot and I hate you, get lost.",
                              "Thank you so much, I'm happy to help and I hope you have a lovely day!"])[0]
    hostile = {r.spectrum.name: r.judge(emo[0]) for r in rails}
    kind = {r.spectrum.name: r.judge(emo[1]) for r in rails}
    assert not hostile["hostility"].allowed and hostile["hostility"].intensity <= -0.6
    assert kind["hostility"].allowed and kind["letter"].allowed


def test_violations_flow_through_the_embedded_runner(small_stream, settings, classifier, tmp_path: Path):
    core = build_core(settings, classifier)
    result = EmbeddedRunner(core.scorer, core.aggregator, core.metrics).run(read_inputs(*small_stream))
    assert result.violations, "the angry steering must break the hostility guardrail"
    for v in result.violations:
        assert v["response"]["model"] == "m1" and v["spectrum"] in ("letter", "hostility")
        assert not v["guardrail"]["min"] <= v["intensity"] <= v["guardrail"]["max"]
    assert {v["response"]["steering"] for v in result.violations if v["spectrum"] == "hostility"} == {"angry"}
    paths = write_outputs(result, tmp_path / "out")
    lines = paths["violations"].read_text().splitlines()
    assert len(lines) == len(result.violations)
    from prometheus_client import generate_latest

    body = generate_latest(core.metrics.registry).decode()
    assert 'affectwatch_guardrail_violations_total{model="m1",run="live",spectrum="hostility",steering="angry"}' in body
    assert "affectwatch_behavior_levels_total{" in body
    assert 'affectwatch_emotion_spectrum_intensity{' in body or result.figures.series[0].spectra
    series = [s for s in result.figures.series if s.dimension == "emotion"]
    assert series and all(set(s.spectra) == set(core.scorer.spectra.names) for s in series)
