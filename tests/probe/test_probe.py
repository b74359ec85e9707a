"""`affectwatch probe` against a local OpenAI-compatible server started here
(scripted answers): prompts, pacing, budget, failures, kills and pairing."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from models.labels import EMOTIONS, MORALS
from streams.core.pairing import Pairing, jaccard
from streams.core.records import Limits, LMResponse, parse
from streams.probe.ledger import Ledger
from streams.probe.metrics import ProbeMetrics
from streams.probe.profiles import ProbeConfig, ProbeConfigError, load
from streams.probe.runner import Options, Probe, answer_id
from streams.probe.sampling import chosen
from streams.probe.sinks import JsonlSink
from tests.chat_server import ok
from tests.conftest import T0, write_jsonl
from tests.paths import ROOT

RULES = ROOT / "deploy" / "prometheus" / "rules" / "affectwatch.rules.yml"
PROFILES = {
    "default": {"system": "You are a helpful assistant.", "user": "Reply to this post: {post}", "max_tokens": 40},
    "liberal": {"system": "You are a liberal. Topic: {topic}.", "user": "Reply to this post: {post}",
                "temperature": 0.2, "top_p": 0.5, "max_tokens": 30},
}


def score(i: int, group: str = "liberal", topic: str = "economy", top: str = "joy") -> dict:
    emotion = {e: 0.01 for e in EMOTIONS} | {top: 0.9}
    moral = {m: 0.01 for m in MORALS} | {"care": 0.7}
    return {"id": f"p{i}", "author_id": f"a{i}", "text": f"post number {i} about {topic}",
            "created_at": T0 + i * 1000, "stream": "human", "group": group, "topic": topic,
            "emotion": emotion, "moral": moral, "labels": {"emotion": [top], "moral": ["care"]}}


def config(url: str, **endpoint) -> ProbeConfig:
    e = {"name": "scripted-lm", "url": url, "model": "scripted", "concurrency": 2, "requests_per_second": 1000,
         "timeout_seconds": 5, "retries": 0, "backoff_seconds": 0, "budget_tokens": 10**9, **endpoint}
    return ProbeConfig.model_validate({"profiles": PROFILES, "endpoints": [e]})


def options(**kw) -> Options:
    base = dict(groups=("liberal", "conservative"), rate=1.0, seed=13, max_per_key=1000, window_seconds=3600,
                budget_window_seconds=3600, retry_seconds=0.0)
    return Options(**{**base, **kw})


def echo(messages):
    return ok("a reply to: " + messages[-1]["content"][-40:], tokens=20)


def make_probe(tmp_path: Path, cfg: ProbeConfig, opt: Options | None = None, **kw) -> Probe:
    return Probe(cfg, opt or options(), Ledger(tmp_path / "ledger.sqlite"), JsonlSink(tmp_path / "answers.jsonl"),
                 ProbeMetrics(), sleep=lambda s: None, **kw)


def answers(tmp_path: Path) -> list[dict]:
    path = tmp_path / "answers.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_every_prompt_carries_the_post_and_its_profiles_wording_and_sampling(server, tmp_path):
    srv = server(echo)
    probe = make_probe(tmp_path, config(srv.url))
    assert probe.offer([score(1), score(2, group="conservative", topic="guns")])["sampled"] == 2
    result = probe.drain(rounds=1)
    assert result.answered == 4 and not result.failures
    by_profile = Counter()
    for r in srv.requests:
        system, user = r["messages"][0]["content"], r["messages"][-1]["content"]
        profile = "liberal" if system.startswith("You are a liberal") else "default"
        by_profile[profile] += 1
        assert user.startswith("Reply to this post: post number ")
        if profile == "liberal":
            assert system in ("You are a liberal. Topic: economy.", "You are a liberal. Topic: guns.")
            assert (r["temperature"], r["top_p"], r["max_tokens"]) == (0.2, 0.5, 30)
        else:
            assert (r["temperature"], r["max_tokens"]) == (0.7, 40)
        assert r["model"] == "scripted"
    assert by_profile == {"default": 2, "liberal": 2}
    out = answers(tmp_path)
    assert sorted((a["steering"], a["prompt_id"]) for a in out) == [
        ("default", "p1"), ("default", "p2"), ("liberal", "p1"), ("liberal", "p2")]
    for a in out:
        post = {"p1": score(1), "p2": score(2, group="conservative", topic="guns")}[a["prompt_id"]]
        assert a["model"] == "scripted-lm" and a["topic"] == post["topic"]
        assert a["created_at"] == post["created_at"]  # in the windows of the post it answers
        assert a["id"] == answer_id("scripted-lm", a["steering"], a["prompt_id"])
        assert a["prompt_top"] == {"emotion": "joy", "moral": "care"} and a["prompt_group"] == post["group"]
        assert a["text"].startswith("a reply to: ")
        # every answer is a valid lm-responses record
        parsed = parse(json.dumps(a), "lm", {}, Limits(now_ms=lambda: T0 + 10**7))
        assert isinstance(parsed.record, LMResponse), parsed


def test_sampling_is_per_group_and_topic_capped_and_the_same_for_the_same_seed(server, tmp_path):
    share = sum(chosen(f"id{i}", 0.1, 7) for i in range(20_000)) / 20_000
    assert 0.09 < share < 0.11
    assert [chosen(f"id{i}", 0.1, 7) for i in range(200)] == [chosen(f"id{i}", 0.1, 7) for i in range(200)]
    assert [chosen(f"id{i}", 0.1, 7) for i in range(200)] != [chosen(f"id{i}", 0.1, 8) for i in range(200)]
    srv = server(echo)
    probe = make_probe(tmp_path, config(srv.url), options(max_per_key=3))
    records = [score(i) for i in range(5)] + [score(10 + i, group="conservative") for i in range(2)]
    records += [score(20, group="unassigned"), {**score(21), "stream": "lm"}, {"stream": "human",
                "group": "liberal"}, None, score(0), {**score(22), "topic": "a\nb"}, {**score(23), "id": ""}]
    out = probe.offer(records)
    assert out == {"sampled": 5, "capped": 2, "no_group": 1, "not_human": 1, "malformed": 4, "seen": 1}


def test_requests_are_paced_by_the_endpoints_rate_limit(server, tmp_path):
    srv = server(echo)
    probe = make_probe(tmp_path, config(srv.url, requests_per_second=8, concurrency=4))
    probe.offer([score(i) for i in range(6)])
    assert probe.drain(rounds=1).answered == 12
    starts = sorted(r["t_start"] for r in srv.requests)
    # 12 requests at 8 a second: the last starts at least 11/8 s after the first
    assert starts[-1] - starts[0] >= 11 / 8 - 0.05
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 1 / 8 - 0.03


def test_the_token_budget_defers_prompts_to_the_next_window_and_loses_none(server, tmp_path):
    srv = server(echo)  # every answer is charged 20 tokens; the estimate is text/4 + max_tokens
    clock = [1_000_000.0]
    cfg = config(srv.url, budget_tokens=200, profiles=["default"])
    probe = make_probe(tmp_path, cfg, options(budget_window_seconds=600), wall=lambda: clock[0])
    probe.offer([score(i) for i in range(10)])
    first = probe.ask()
    assert 0 < first.answered < 10 and first.deferred == 10 - first.answered
    while probe.ask().answered:  # what the first answers left of the budget is used, no more
        pass
    used = probe.ledger.budget_used("scripted-lm", 1_000_000 - 1_000_000 % 600)
    in_window = len(answers(tmp_path))
    assert used == 20 * in_window <= 200 and in_window < 10
    clock[0] += 600
    second = probe.ask()
    assert second.answered > 0
    while probe.ledger.counts()["pending"]:
        clock[0] += 600
        probe.ask()
    assert sorted(a["prompt_id"] for a in answers(tmp_path)) == sorted(f"p{i}" for i in range(10))
    assert len(srv.requests) == 10


def test_a_failing_or_malformed_endpoint_leaves_prompts_retried_never_lost_never_duplicated(server, tmp_path):
    seen: Counter = Counter()
    lock = threading.Lock()

    def flaky(messages):
        key = messages[-1]["content"]
        with lock:
            seen[key] += 1
            n = seen[key]
        if n == 1:
            return 500, {"error": "overloaded"}
        if n == 2:
            return 200, b"{not json"
        if n == 3:
            return 200, {"choices": [{"message": {"content": "   "}}]}
        return ok("finally an answer")

    srv = server(flaky)
    probe = make_probe(tmp_path, config(srv.url, profiles=["default"]))
    probe.offer([score(i) for i in range(4)])
    result = probe.drain(rounds=3)
    assert result.answered == 0 and result.failures == {"empty": 4}
    assert probe.ledger.counts()["pending"] == 4 and probe.ledger.failing() == {"empty": 4}
    fam = {s.labels["reason"]: s.value for m in probe.metrics.registry.collect() for s in m.samples
           if s.name == "affectwatch_probe_failures_total"}
    assert fam == {"http_5xx": 4, "malformed": 4, "empty": 4}
    assert probe.drain(rounds=1).answered == 4
    out = answers(tmp_path)
    assert sorted(a["prompt_id"] for a in out) == ["p0", "p1", "p2", "p3"]  # each exactly once
    assert set(seen.values()) == {4}
    assert probe.ledger.counts() == {"pending": 0, "answered": 0, "emitted": 4}


def test_the_cli_exits_1_while_an_endpoint_is_down_and_a_rerun_asks_the_rest(server, tmp_path):
    scores = write_jsonl(tmp_path / "scores.jsonl", [score(i) for i in range(3)])
    down = server(lambda m: (503, {"error": "down"}))
    cfg_path = tmp_path / "probe.yaml"
    cfg_path.write_text(yaml.safe_dump(config(down.url, profiles=["default"]).model_dump()))
    env = {**os.environ, "AFFECTWATCH_PROBE_RETRY_SECONDS": "0", "AFFECTWATCH_PROBE_SAMPLE_RATE": "1"}
    cmd = [sys.executable, "-m", "streams.cli", "probe", "--scores", str(scores), "--out",
           str(tmp_path / "answers.jsonl"), "--config", str(cfg_path), "--state", str(tmp_path / "ledger.sqlite"),
           "--metrics-port", "-1"]
    first = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "3 prompts are not answered" in first.stderr and "http_5xx" in first.stderr
    up = server(echo)
    cfg_path.write_text(yaml.safe_dump(config(up.url, profiles=["default"]).model_dump()))
    second = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert second.returncode == 0, second.stdout + second.stderr
    assert sorted(a["prompt_id"] for a in answers(tmp_path)) == ["p0", "p1", "p2"]
    assert len(up.requests) == 3


def test_a_probe_killed_mid_run_asks_nothing_twice_after_a_restart(server, tmp_path):
    def slow(messages):
        time.sleep(0.15)
        return ok("slow answer to " + messages[-1]["content"][-30:])

    srv = server(slow)
    scores = write_jsonl(tmp_path / "scores.jsonl", [score(i) for i in range(30)])
    cfg_path = tmp_path / "probe.yaml"
    cfg_path.write_text(yaml.safe_dump(config(srv.url, concurrency=3).model_dump()))
    out = tmp_path / "answers.jsonl"
    cmd = [sys.executable, "-m", "streams.cli", "probe", "--scores", str(scores), "--out", str(out), "--config",
           str(cfg_path), "--state", str(tmp_path / "ledger.sqlite"), "--metrics-port", "-1", "--rate", "1"]
    env = {**os.environ, "AFFECTWATCH_PROBE_MAX_PER_SUBJECT_GROUP": "100"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.time() + 120
    while time.time() < deadline and (not out.exists() or len(out.read_bytes().splitlines()) < 15):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    killed_at = time.time()
    proc.wait()
    partial = len(out.read_bytes().splitlines())
    assert 15 <= partial < 60, "the kill came after the run ended: nothing was tested"
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
    assert again.returncode == 0, again.stderr
    got = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(got) == 60 and len({a["id"] for a in got}) == 60  # every prompt answered, none twice
    asked = Counter((r["messages"][0]["content"], r["messages"][-1]["content"]) for r in srv.requests)
    twice = [k for k, n in asked.items() if n > 1]
    # Only a prompt in flight at the kill (its answer never reached the ledger) may be asked again.
    for key in twice:
        first = min((r for r in srv.requests if (r["messages"][0]["content"], r["messages"][-1]["content"]) == key),
                    key=lambda r: r["t_start"])
        assert first.get("t_end", killed_at) >= killed_at - 0.5, f"{key} was answered well before the kill"
    assert len(twice) <= 3  # at most the endpoint's concurrency


def test_profiles_and_endpoints_are_checked_with_clear_errors(tmp_path, monkeypatch):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"profiles": {"x": {"user": "no placeholder"}}, "endpoints": []}))
    with pytest.raises(ProbeConfigError, match="must contain"):
        load(bad)
    bad.write_text(yaml.safe_dump({"profiles": {"x": {"user": "{post} {author}"}}}))
    with pytest.raises(ProbeConfigError, match="unknown placeholders"):
        load(bad)
    bad.write_text(yaml.safe_dump({"profiles": {"x": {"user": "{post}"}}, "endpoints": [
        {"name": "a", "url": "http://x/v1", "model": "m", "profiles": ["y"]}]}))
    with pytest.raises(ProbeConfigError, match="unknown profiles"):
        load(bad)
    bad.write_text("profiles: [")
    with pytest.raises(ProbeConfigError, match="not YAML"):
        load(bad)
    cfg = config("http://127.0.0.1:9/v1", api_key_env="AFFECTWATCH_TEST_NO_SUCH_KEY")
    monkeypatch.delenv("AFFECTWATCH_TEST_NO_SUCH_KEY", raising=False)
    with pytest.raises(ProbeConfigError, match="AFFECTWATCH_TEST_NO_SUCH_KEY is not set"):
        make_probe(tmp_path, cfg)
    assert load(Path("streams/bundled/probe.yaml")).profiles.keys() == {"default", "liberal", "conservative"}


def test_the_api_key_is_sent_as_a_bearer_token(server, tmp_path, monkeypatch):
    srv = server(echo)
    monkeypatch.setenv("PROBE_TEST_KEY", "sk-probe")
    probe = make_probe(tmp_path, config(srv.url, api_key_env="PROBE_TEST_KEY", profiles=["default"]))
    probe.offer([score(1)])
    probe.drain(rounds=1)
    assert [r["auth"] for r in srv.requests] == ["Bearer sk-probe"]


def test_pairing_counts_top_label_matches_and_label_overlap():
    p = Pairing()
    ans = {"emotion": ("joy", {"joy", "love"}), "moral": ("care", {"care"})}
    assert p.add("m", "default", ans, {"emotion": "joy", "moral": "fairness"},
                 {"emotion": ["joy"], "moral": ["fairness"]}) == [("emotion", True), ("moral", False)]
    p.add("m", "default", {"emotion": ("anger", set())}, {"emotion": "joy"}, {"emotion": []})
    rows = {r["dimension"]: r for r in p.to_dict()}
    assert rows["emotion"]["n"] == 2 and rows["emotion"]["top_match"] == 1
    assert rows["emotion"]["mean_jaccard"] == pytest.approx((0.5 + 1.0) / 2)  # two empty sets agree
    assert rows["moral"]["top_match_share"] == 0.0
    assert jaccard(set(), set()) == 1.0


def test_a_record_claiming_unknown_prompt_labels_is_dead_lettered():
    base = {"id": "r", "model": "m", "text": "hello there", "created_at": T0}
    lim = Limits(now_ms=lambda: T0)
    for bad, reason in (({"prompt_top": {"emotion": "rage"}}, "invalid_field:prompt_top"),
                        ({"prompt_top": {"color": "red"}}, "invalid_field:prompt_top"),
                        ({"prompt_labels": {"moral": ["care", "care"]}}, "invalid_field:prompt_labels"),
                        ({"prompt_group": "x" * 500}, "invalid_name:prompt_group")):
        dead = parse(json.dumps({**base, **bad}), "lm", {}, lim)
        assert getattr(dead, "reason", None) == reason, dead


@pytest.mark.timeout(600)
def test_on_kafka_probe_answers_flow_through_a_real_worker_as_their_own_series(kafka, server, tmp_path):
    from kafka import KafkaProducer

    from streams.kafka.io import create_topics
    from streams.observe.dashboards import build_all, concrete, queries
    from streams.probe.follow import follow
    from streams.probe.sinks import KafkaSink
    from tests.kafka.test_hostile_records import metric_sum
    from tests.kafka_support import Snapshots, Worker, isolated_settings
    from tests.prom_support import Prometheus

    s = isolated_settings(kafka.bootstrap, tmp_path, probe__group_id=f"probe-{tmp_path.name[-12:]}")
    create_topics(s)
    producer = KafkaProducer(bootstrap_servers=s.kafka.bootstrap)
    for i in range(12):
        post = {"id": f"p{i}", "author_id": f"a{i}", "text": f"I am so happy and grateful today, number {i}",
                "created_at": T0 + i * 60_000, "group": "liberal" if i % 2 else "conservative"}
        producer.send(s.kafka.topic_posts, key=post["author_id"].encode(), value=json.dumps(post).encode())
    producer.flush()
    producer.close()
    calls: Counter = Counter()
    lock = threading.Lock()

    def script(messages):  # each prompt's first request fails: the failure panel and retries get data
        with lock:
            calls[messages[-1]["content"], messages[0]["content"]] += 1
            first = calls[messages[-1]["content"], messages[0]["content"]] == 1
        return (500, {"error": "warming up"}) if first else ok("This is awful, I am furious and disgusted.")

    srv = server(script)
    w = Worker(s, tmp_path / "worker.log", tmp_path / "state").start()
    metrics = ProbeMetrics()
    probe_port = metrics.serve("127.0.0.1", 0)
    probe = Probe(config(srv.url), options(retry_seconds=0.2), Ledger(tmp_path / "ledger.sqlite"), KafkaSink(s),
                  metrics)
    stop = threading.Event()
    thread = threading.Thread(target=follow, args=(s, probe, stop), daemon=True)
    prom = Prometheus(tmp_path, [f"127.0.0.1:{w.port}", f"127.0.0.1:{probe_port}"], [RULES]).start()
    started = time.time()
    try:
        w.wait_ready()
        thread.start()
        deadline = time.monotonic() + 240
        body = ""
        while time.monotonic() < deadline:
            body = w.get("/metrics")[1]
            if metric_sum(body, "affectwatch_probe_pairs_total") >= 48:
                break
            time.sleep(1)
        assert metric_sum(body, "affectwatch_probe_pairs_total") == 48, f"see {w.log}"  # 12 posts x 2 x 2
        matched = metric_sum(body, "affectwatch_probe_pairs_top_match_total")
        assert matched < 48  # happy posts, furious answers: the top emotions mostly differ
        assert len(srv.requests) == 48  # 24 prompts, each failed once and answered once
        snaps = Snapshots(s)
        deadline = time.monotonic() + 60
        lm: dict = {}
        while time.monotonic() < deadline:
            snaps.poll()
            lm = {r["series"]: r["n"] for snap in snaps.latest.values() for r in snap["series"]
                  if r["series"].startswith("lm:") and r["topic"] == "all" and r["dimension"] == "emotion"
                  and r["window"] == "24h"}
            if lm == {"lm:scripted-lm:default": 12, "lm:scripted-lm:liberal": 12}:
                break
            time.sleep(1)
        snaps.close()
        assert lm == {"lm:scripted-lm:default": 12, "lm:scripted-lm:liberal": 12}

        # What an operator sees: a real Prometheus scraped the worker and the probe; every query
        # of the probe dashboard has data, and the figures are the ones counted above.
        def value(expr: str) -> float:
            got = prom.query(expr)
            return float(got[0]["value"][1]) if got else -1.0

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and value("sum(affectwatch_probe_pairs_total)") != 48:
            time.sleep(1)
        assert value("sum(affectwatch_probe_answers_total)") == 24
        assert value('sum(affectwatch_probe_failures_total{reason="http_5xx"})') == 24
        assert value("sum(affectwatch_probe_requests_total)") == 48
        assert value("sum(affectwatch_probe_pending)") == 0
        assert value("sum(affectwatch_probe_pairs_total)") == 48
        board = build_all()["probe"]
        deadline = time.monotonic() + 60  # a loaded machine scrapes late: every query must get data in time
        while True:
            empty = [e for e in queries(board) if not prom.query_range(concrete(e, "30s"), started, time.time())]
            if not empty or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert not empty, f"probe dashboard queries without data: {empty}"
        share = prom.query(concrete(queries(board)[-1]))
        assert {r["metric"]["steering"] for r in share} == {"default", "liberal"}
        assert all(0 <= float(r["value"][1]) <= 1 for r in share)
        emotion = [float(r["value"][1]) for r in share if r["metric"]["dimension"] == "emotion"]
        assert len(emotion) == 2 and max(emotion) < 1  # happy posts, furious answers
    finally:
        stop.set()
        thread.join(timeout=30)
        probe.close()
        probe.sink.close()
        prom.stop()
        w.stop()


def test_embedded_probe_of_the_demo_posts_lands_in_the_figures_pairing_and_report(server, tmp_path):
    from streams.settings import BUNDLED

    srv = server(lambda m: ok("I am so happy and grateful for this, what a lovely thing to read!"))
    cfg_path = tmp_path / "probe.yaml"
    cfg_path.write_text(yaml.safe_dump(config(srv.url).model_dump()))
    posts = BUNDLED / "demo" / "posts.jsonl"
    answers_path = tmp_path / "answers.jsonl"
    env = {**os.environ, "AFFECTWATCH_PROBE_MAX_PER_SUBJECT_GROUP": "1000"}
    probe = subprocess.run(
        [sys.executable, "-m", "streams.cli", "probe", "--posts", str(posts), "--out", str(answers_path),
         "--config", str(cfg_path), "--state", str(tmp_path / "ledger.sqlite"), "--rate", "0.05",
         "--metrics-port", "-1"], capture_output=True, text=True, env=env, timeout=600)
    assert probe.returncode == 0, probe.stdout + probe.stderr
    got = [json.loads(x) for x in answers_path.read_text().splitlines()]
    post_ids = {json.loads(x)["id"] for x in posts.read_text().splitlines()}
    asked = {a["prompt_id"] for a in got}
    assert asked <= post_ids and 40 <= len(asked) <= 200  # about 5% of the demo's posts
    assert len(got) == 2 * len(asked) and {a["prompt_group"] for a in got} == {"liberal", "conservative"}
    out = tmp_path / "run"
    run = subprocess.run(
        [sys.executable, "-m", "streams.cli", "run", "--posts", str(posts), "--responses",
         str(BUNDLED / "demo" / "responses.jsonl"), "--responses", str(answers_path), "--out", str(out),
         "--metrics-port", "-1"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    figures = json.loads((out / "figures.json").read_text())
    lm = {(r["series"], r["n"]) for r in figures["series"]
          if r["topic"] == "all" and r["window"] == "24h" and r["dimension"] == "emotion"
          and r["series"].startswith("lm:scripted-lm:")}
    assert lm == {("lm:scripted-lm:default", len(asked)), ("lm:scripted-lm:liberal", len(asked))}
    pairing = {(p["steering"], p["dimension"]): p for p in figures["pairing"]}
    assert set(pairing) == {("default", "emotion"), ("default", "moral"), ("liberal", "emotion"),
                            ("liberal", "moral")}
    assert all(p["n"] == len(asked) for p in pairing.values())
    # The answers are all joyful: they match exactly the posts whose top emotion is joy.
    joyful = sum(1 for a in got if a["steering"] == "default" and a["prompt_top"]["emotion"] == "joy")
    assert pairing["default", "emotion"]["top_match"] == joyful
    page = (out / "report.html").read_text()
    assert "Probe answers against the posts they answer" in page and "scripted-lm" in page


def test_an_answer_that_cannot_be_sent_waits_in_the_ledger_and_is_sent_once_later(server, tmp_path):
    class Flaky(JsonlSink):
        down = True

        def emit(self, records):
            if self.down:
                raise OSError("disk full")
            super().emit(records)

    srv = server(echo)
    sink = Flaky(tmp_path / "answers.jsonl")
    probe = Probe(config(srv.url, profiles=["default"]), options(), Ledger(tmp_path / "ledger.sqlite"), sink,
                  ProbeMetrics(), sleep=lambda s: None)
    probe.offer([score(i) for i in range(3)])
    with pytest.raises(OSError):
        probe.ask()  # asked and stored; the send at the end of the pass fails too
    assert probe.ledger.counts() == {"pending": 0, "answered": 3, "emitted": 0}
    sink.down = False
    assert probe.ask().answered == 0  # nothing is asked again ...
    assert probe.ledger.counts()["emitted"] == 3  # ... and the stored answers go out
    assert sorted(a["prompt_id"] for a in answers(tmp_path)) == ["p0", "p1", "p2"]
    assert len(srv.requests) == 3
