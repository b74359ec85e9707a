"""The DIKE/ERIS reviewer against a local OpenAI-compatible server that answers
from a script: the schedule, the prompts, the verdicts, and failures that
leave a violation unreviewed and retried, never lost."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

from typer.testing import CliRunner

from streams.cli import app
from streams.observe.metrics import Metrics
from streams.review.chat import ChatClient, ChatConfig
from streams.review.queue import read_jsonl, review_file, review_kafka
from streams.review.reviewer import Debate, contentiousness_schedule
from tests.chat_server import ScriptedDebate, ok
from tests.kafka_support import isolated_settings, read_topic

VIOLATION = {
    "id": "r7:hostility",
    "spectrum": "hostility",
    "level": "hostile",
    "intensity": -0.6,
    "confidence": 0.61,
    "guardrail": {"min": -0.3, "max": 1.0},
    "response": {"id": "r7", "model": "acme-lm", "steering": "default", "text": "What an idiotic take, shut up.",
                 "topic": "guns", "created_at": 1709294400000},
    "emotion": {"anger": 0.91, "disgust": 0.85, "joy": 0.02},
}


def client(url: str, **kw) -> ChatClient:
    cfg = ChatConfig(url, "scripted", "sk-test", timeout_seconds=5, retries=kw.pop("retries", 1),
                     backoff_seconds=0.01, **kw)
    return ChatClient(cfg, sleep=lambda s: None)


def test_contentiousness_schedule_is_0_9_divided_by_1_2_while_at_least_0_1():
    s = contentiousness_schedule()
    assert len(s) == 13 and s[0] == 0.9 and s[-1] >= 0.1 and s[-1] / 1.2 < 0.1
    assert all(abs(b - a / 1.2) < 1e-3 for a, b in itertools.pairwise(s))
    assert contentiousness_schedule(5) == s[:5]


def test_the_debate_follows_the_schedule_and_every_prompt_carries_stance_opponent_and_contentiousness(server):
    srv = server(ScriptedDebate())
    checked = []
    debate = Debate(client(srv.url), check=lambda text, sp: (checked.append((text, sp)) or ("polite", True)))
    review = debate.run(VIOLATION)
    phases = [t["phase"] for t in review["transcript"]]
    assert phases[:3] == ["subtopics", "opening", "opening"]
    assert phases.count("round") == 2 * 13 and review["rounds"] == 13
    assert phases[-5:] == ["closing", "closing", "verdict", "verdict", "rectify"]
    assert review["subtopics"] == ["tone of the reply", "intent of the speaker", "cultural context"]
    turns = [t for t in review["transcript"] if t["phase"] in ("opening", "round", "closing")]
    prompts = [p for sp, p in srv.prompts()[1:1 + len(turns)]]
    for i, (turn, prompt) in enumerate(zip(turns, prompts, strict=True)):
        stance = "DEFEND" if turn["speaker"] == "DIKE" else "CHALLENGE"
        assert f"Your stance: {stance}" in prompt
        assert f"Contentiousness: {turn['contentiousness']:.3f}" in prompt
        assert "What an idiotic take, shut up." in prompt and "tone of the reply" in prompt
        if i:  # everyone but the first speaker answers the other side's last turn
            assert f"{turns[i - 1]['speaker']}'s last arguments:\n{turns[i - 1]['content']}" in prompt
    rounds = [t for t in turns if t["phase"] == "round"]
    assert [t["contentiousness"] for t in rounds[::2]] == contentiousness_schedule()
    assert "conciliatory" in prompts[-1] and turns[-1]["contentiousness"] < 0.1
    assert review["verdict"] == "uphold" and review["rectified"].startswith("Thank you")
    assert checked == [(review["rectified"], "hostility")] and review["rectified_level"] == "polite"
    assert all(r["auth"] == "Bearer sk-test" and r["model"] == "scripted" for r in srv.requests)


def test_a_disagreeing_pair_escalates_and_a_pair_that_overturns_drops_the_decision(server):
    srv = server(ScriptedDebate(dike="uphold", eris="overturn"))
    review = Debate(client(srv.url), max_rounds=2).run(VIOLATION)
    assert review["verdict"] == "escalate" and review["rectified"] is None and review["rounds"] == 2
    srv2 = server(ScriptedDebate(dike="overturn", eris="overturn"))
    assert Debate(client(srv2.url), max_rounds=2).run(VIOLATION)["verdict"] == "overturn"


def test_verdicts_are_asked_in_json_mode_and_an_endpoint_that_refuses_it_is_asked_plainly(server):
    srv = server(ScriptedDebate())
    Debate(client(srv.url), max_rounds=1).run(VIOLATION)
    verdicts = [r for r in srv.requests if "Reply with JSON only" in r["messages"][-1]["content"]]
    others = [r for r in srv.requests if "Reply with JSON only" not in r["messages"][-1]["content"]]
    assert len(verdicts) == 2 and all(r["response_format"] == {"type": "json_object"} for r in verdicts)
    assert not any("response_format" in r for r in others)
    plain = server(ScriptedDebate())
    plain.refuse_json_mode = True  # a 400, which is not retried: the same question again, without it
    review = Debate(client(plain.url), max_rounds=1).run(VIOLATION)
    assert review["verdict"] == "uphold"
    asked = [r for r in plain.requests if "Reply with JSON only" in r["messages"][-1]["content"]]
    assert ["response_format" in r for r in asked] == [True, False, False]


def test_a_rewrite_that_stays_outside_the_guardrail_is_escalated(server):
    srv = server(ScriptedDebate())
    review = Debate(client(srv.url), max_rounds=1, check=lambda t, s: ("hostile", False)).run(VIOLATION)
    assert review["verdict"] == "escalate" and review["rectified_level"] == "hostile"
    assert sum(1 for t in review["transcript"] if t["phase"] == "rectify") == 2


def test_a_failing_or_malformed_endpoint_leaves_violations_unreviewed_and_a_rerun_reviews_them(server, tmp_path):
    state = {"mode": "down"}
    good = ScriptedDebate()

    def script(messages):
        if state["mode"] == "down":
            return 503, {"error": "overloaded"}
        if state["mode"] == "malformed":
            return 200, b"<html>not json</html>"
        return good(messages)

    srv = server(script)
    violations = tmp_path / "guardrail-violations.jsonl"
    other = {**VIOLATION, "id": "r8:hostility"}
    violations.write_text(json.dumps(VIOLATION) + "\n" + json.dumps(other) + "\n")
    reviews = tmp_path / "reviews.jsonl"
    metrics = Metrics()
    debate = Debate(client(srv.url, retries=2), max_rounds=1, check=lambda t, s: ("polite", True))
    for mode in ("down", "malformed"):
        state["mode"] = mode
        done, left = review_file(violations, reviews, debate, metrics, passes=2, sleep=lambda s: None)
        assert done == 0 and [u["violation_id"] for u in left] == ["r7:hostility", "r8:hostility"]
        assert read_jsonl(reviews) == [] and len(read_jsonl(tmp_path / "unreviewed.jsonl")) == 2
    assert metrics.review_failures.labels("live")._value.get() == 8  # 2 modes x 2 passes x 2 violations
    calls_before = len(srv.requests)
    assert calls_before == 2 * 2 * 2 * 3  # every failure was retried (1 try + 2 retries)
    state["mode"] = "up"
    done, left = review_file(violations, reviews, debate, metrics, sleep=lambda s: None)
    assert done == 2 and left == [] and read_jsonl(tmp_path / "unreviewed.jsonl") == []
    assert [r["violation_id"] for r in read_jsonl(reviews)] == ["r7:hostility", "r8:hostility"]
    assert review_file(violations, reviews, debate, metrics)[0] == 0, "a reviewed violation is not reviewed twice"


def test_the_token_budget_stops_a_review_before_it_overspends(server, tmp_path):
    srv = server(lambda messages: ok("an argument", tokens=1000))
    debate = Debate(client(srv.url, budget_tokens=5000), max_rounds=13)
    violations = tmp_path / "v.jsonl"
    violations.write_text(json.dumps(VIOLATION) + "\n")
    done, left = review_file(violations, tmp_path / "reviews.jsonl", debate, passes=1)
    assert done == 0 and "budget" in left[0]["reason"] and len(srv.requests) == 5


def test_the_reviewer_refuses_to_start_without_an_endpoint(monkeypatch, tmp_path: Path):
    monkeypatch.delenv("AFFECTWATCH_REVIEW_ENDPOINT", raising=False)
    res = CliRunner().invoke(app, ["review", "--violations", str(tmp_path / "v.jsonl")])
    assert res.exit_code == 2 and "no review endpoint" in res.output


def test_reviews_on_kafka_commit_only_after_the_review_is_sent(kafka, server, tmp_path):
    from kafka import KafkaProducer

    from streams.kafka.io import create_topics

    s = isolated_settings(kafka.bootstrap, tmp_path)
    create_topics(s)
    calls = {"n": 0}
    good = ScriptedDebate()

    def script(messages):  # the very first call fails for good: the violation must come back
        calls["n"] += 1
        return (500, {"error": "boom"}) if calls["n"] == 1 else good(messages)

    srv = server(script)
    p = KafkaProducer(bootstrap_servers=s.kafka.bootstrap)
    for v in (VIOLATION, {**VIOLATION, "id": "r8:hostility"}):
        p.send(s.kafka.topic_violations, key=v["id"].encode(), value=json.dumps(v).encode())
    p.send(s.kafka.topic_violations, key=b"junk", value=b"{not json")
    p.flush()
    p.close()
    debate = Debate(client(srv.url, retries=0), max_rounds=1, check=lambda t, sp: ("polite", True))
    t0 = time.monotonic()
    assert review_kafka(s, debate, idle_seconds=6, backoff_seconds=0.1) == 2
    assert time.monotonic() - t0 < 120
    reviews = [json.loads(m.value) for m in read_topic(s, s.kafka.topic_reviews)]
    assert sorted(r["violation_id"] for r in reviews) == ["r7:hostility", "r8:hostility"]
    # Everything was committed: a second reviewer in the group finds nothing left.
    assert review_kafka(s, debate, idle_seconds=4) == 0


def test_dike_rewrite_asks_for_every_level_of_every_seed_and_fits(server, tmp_path, monkeypatch):
    from streams.dike.behavior import BehaviorSpectrum
    from streams.dike.fitting import read_examples
    from streams.review.rewrite import rewrite_examples
    from streams.settings import BUNDLED

    spectrum = BehaviorSpectrum.load(BUNDLED / "behavior" / "hostility.yaml")

    def script(messages):
        prompt = messages[-1]["content"]
        level = prompt.split("at the level '", 1)[1].split("'", 1)[0]
        if level == "warm" and "second" in prompt:
            return 500, {"error": "boom"}  # one rewrite fails: reported, not dropped silently
        return ok(f"[{level}] " + prompt.rsplit("Text:\n", 1)[1])

    srv = server(script)
    examples, failures = rewrite_examples(spectrum, ["first seed", "second seed", "third"], client(srv.url), n=2)
    assert len(examples) == 2 * 7 - 1 and failures == [{"seed": 1, "level": "warm", "reason": failures[0]["reason"]}]
    assert {e["level"] for e in examples} == set(spectrum.names)
    assert all(e["text"].startswith(f"[{e['level']}]") for e in examples)
    path = tmp_path / "ex.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in examples))
    texts, levels = read_examples(path, spectrum)
    assert len(texts) == 13 and levels.max() == 6
    # The command says plainly when no endpoint is set.
    monkeypatch.delenv("AFFECTWATCH_REVIEW_ENDPOINT", raising=False)
    res = CliRunner().invoke(app, ["dike", "rewrite", "--spectrum", str(BUNDLED / "behavior" / "hostility.yaml"),
                                   "--seeds", str(path), "--out", str(tmp_path / "o.jsonl")])
    assert res.exit_code == 2 and "no endpoint" in res.output
