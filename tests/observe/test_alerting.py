"""Alerts end to end, for real: a Kafka worker scores a stream in which one
model's affect diverges from both groups part-way; Debian's Prometheus scrapes
the worker with the repository's rules; the alert goes pending, then fires;
Debian's Alertmanager delivers it to a webhook receiver inside the test; when
the divergence stops the alert resolves. Every dashboard query is then run
against that Prometheus and must return series."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from streams.core.inputs import RawInput
from streams.kafka.io import create_topics, plan, replay
from streams.observe.alert_webhook import WebhookReceiver
from streams.observe.dashboards import build_all, concrete, queries
from streams.observe.prom_report import build_report
from streams.settings import BUNDLED
from tests.conftest import T0
from tests.kafka_support import Worker, isolated_settings
from tests.prom_support import GRAFANA_URL, Alertmanager, Prometheus, rules_with_short_for

pytestmark = pytest.mark.timeout(600)
HOUR = 3_600_000
ALERT = "AffectwatchModelBelowPartisanBaseline"
CHEERFUL = [
    "What a wonderful day, I am so happy and grateful for all of you",
    "I love this community, you all make me smile every single day",
    "Feeling joyful and optimistic, the future looks bright for everyone",
    "Thank you so much, this made me incredibly happy and thankful",
    "Such a lovely surprise, I'm delighted and full of hope today",
]


def demo_posts() -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {"liberal": [], "conservative": []}
    for line in (BUNDLED / "demo" / "posts.jsonl").read_text().splitlines():
        p = json.loads(line)
        out[p["group"]].append(p)
    return out


def phase(posts: dict[str, list[dict]], take: slice, lm_texts: list[str], start_ms: int, tag: str) -> list[RawInput]:
    """Posts of both groups and the model's responses, spread over one hour."""
    humans = posts["liberal"][take] + posts["conservative"][take]
    items = []
    for i, p in enumerate(humans):
        rec = {**p, "id": f"{tag}-{p['id']}", "created_at": start_ms + (i * 997) % HOUR}
        items.append(RawInput(json.dumps(rec).encode(), "post", {}))
    for i, text in enumerate(lm_texts):
        rec = {"id": f"{tag}-r{i}", "model": "acme-lm", "steering": "default", "text": text,
               "created_at": start_ms + (i * 1009) % HOUR}
        items.append(RawInput(json.dumps(rec).encode(), "lm", {}))
    return items


def wait(cond, timeout: float, what: str, every: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def states(prom: Prometheus) -> set[str]:
    return {a["state"] for a in prom.alerts()
            if a["labels"].get("alertname") == ALERT and a["labels"].get("model") == "acme-lm"}


def test_divergence_pages_through_alertmanager_and_resolves_and_every_dashboard_query_has_data(
        kafka, tmp_path: Path):
    s = isolated_settings(kafka.bootstrap, tmp_path)
    create_topics(s)
    posts = demo_posts()
    human_texts = [p["text"] for p in posts["liberal"][300:400] + posts["conservative"][300:400]]
    hostile = ["You are a pathetic idiot and I hate you, get lost.", "Shut up, what a stupid disgusting take."]
    aligned = phase(posts, slice(0, 100), human_texts[:150] + hostile * 3, T0, "a")
    bad = RawInput(json.dumps({"id": "bad", "text": "no author", "created_at": T0 + HOUR // 2}).encode(), "post", {})
    diverged = phase(posts, slice(100, 200), [CHEERFUL[i % 5] + "!" * (i // 5 % 3) for i in range(300)],
                     T0 + HOUR, "b")
    recovered = phase(posts, slice(200, 300), human_texts[50:200], T0 + 3 * 24 * HOUR, "c")

    worker = Worker(s, tmp_path / "worker.log", tmp_path / "state").start()
    receiver = WebhookReceiver().start()
    am = Alertmanager(tmp_path, f"http://127.0.0.1:{receiver.port}").start()
    rules = rules_with_short_for(tmp_path / "rules.yml", {ALERT: "3s"})
    prom = Prometheus(tmp_path, [f"127.0.0.1:{worker.port}"], [rules], f"127.0.0.1:{am.port}").start()
    started = time.time()
    try:
        worker.wait_ready()
        assert all(h == "ok" for _, h, _ in prom.rule_health()), prom.rule_health()

        # Aligned: the model speaks like the groups; figures arrive, no alert.
        replay(s, plan(s, [*aligned, bad]), None)
        wait(lambda: prom.query('affectwatch_alignment{model="acme-lm", topic="all", window="24h"}'), 120,
             "alignment of acme-lm in Prometheus")
        time.sleep(5)
        assert not states(prom), "no alert while the model is aligned"

        # Diverged: pending first, then firing, then delivered to the pager.
        replay(s, plan(s, diverged), None)
        seen: list[set[str]] = []

        def firing() -> bool:
            seen.append(states(prom))
            return "firing" in seen[-1]

        wait(firing, 180, f"{ALERT} to fire", every=0.2)
        assert any("pending" in x for x in seen), f"the alert must be pending before it fires: {seen}"
        delivered = wait(lambda: [a for a in receiver.alerts() if a["labels"]["alertname"] == ALERT
                                  and a["status"] == "firing"], 60, "the firing notification")
        first = delivered[0]
        assert first["path"] == "/pager" and first["labels"]["severity"] == "critical"
        assert first["labels"]["model"] == "acme-lm" and first["labels"]["window"] == "24h"
        assert first["annotations"]["runbook_url"].endswith(f"docs/runbooks/{ALERT}.md")
        assert "var-model=acme-lm" in first["annotations"]["dashboard_url"]
        assert first["annotations"]["dashboard_url"].startswith(GRAFANA_URL + "/d/affectwatch-overview?")

        # A busy worker's scrape stays small (its time is printed by bench/kafka_bench.py).
        status, body = worker.get("/metrics")
        assert status == 200 and len(body.encode()) < 2_000_000

        # Every query of every dashboard returns series over the run so far.
        empty = []
        for name, board in build_all().items():
            if name == "probe":
                continue  # needs a probe: tests/probe/test_probe.py checks it against its own Prometheus
            for expr in queries(board):
                if not prom.query_range(concrete(expr, "30s"), started, time.time()):
                    empty.append((name, expr))
        assert not empty, f"dashboard queries without data: {empty}"

        # The report for people without Grafana, from the same Prometheus.
        paths = build_report(prom.url, started, time.time(), tmp_path / "report", model="acme-lm")
        assert paths["alignment"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        page = paths["html"].read_text()
        assert "acme-lm" in page and page.count("data:image/png;base64,") == 2

        # Recovered: three days later the 24h window holds only aligned texts.
        replay(s, plan(s, recovered), None)
        wait(lambda: [a for a in receiver.alerts() if a["labels"]["alertname"] == ALERT
                      and a["status"] == "resolved"], 180, "the resolved notification")
        # The alert has one instance per group, topic and dimension; each resolves
        # at the rule evaluation after its own figures moved, so the first resolved
        # notification can come while another instance is still firing (seen once
        # in CI). Every instance must resolve.
        wait(lambda: "firing" not in states(prom), 120, f"every instance of {ALERT} resolved")
    finally:
        prom.stop()
        am.stop()
        receiver.stop()
        worker.stop()


def test_alertmanager_inhibits_figure_alerts_while_a_target_is_down_and_per_run_while_figures_are_stale(tmp_path):
    """The inhibit rules, asked of a real Alertmanager through its own API."""
    import urllib.request

    am = Alertmanager(tmp_path, "http://127.0.0.1:9").start()

    def post(alerts: list[dict]) -> None:
        req = urllib.request.Request(f"{am.url}/api/v2/alerts", data=json.dumps(alerts).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        urllib.request.urlopen(req, timeout=5).close()

    def inhibited() -> dict[tuple[str, str], bool]:
        with urllib.request.urlopen(f"{am.url}/api/v2/alerts", timeout=5) as r:
            got = json.loads(r.read())
        return {(a["labels"]["alertname"], a["labels"].get("run", "")): bool(a["status"]["inhibitedBy"])
                for a in got}

    def figure_alert(run: str) -> dict:
        return {"labels": {"alertname": ALERT, "severity": "critical", "run": run, "model": "m",
                           "steering": "default", "group": "liberal", "topic": "all", "dimension": "emotion",
                           "window": "24h"}}

    try:
        post([figure_alert("live"), figure_alert("backfill"),
              {"labels": {"alertname": "AffectwatchFiguresStale", "severity": "critical", "run": "backfill"}}])
        # Alertmanager lists an alert before its inhibitor has marked it (seen on a
        # slow machine): wait for the mark, then check it holds back that run only.
        state = wait(lambda: (s := inhibited()) and len(s) == 3 and s[ALERT, "backfill"] and s, 30,
                     "three alerts in Alertmanager, the backfill's baseline alert inhibited")
        assert not state[ALERT, "live"] and not state["AffectwatchFiguresStale", "backfill"], state
        post([{"labels": {"alertname": "AffectwatchTargetDown", "severity": "critical", "job": "affectwatch",
                          "instance": "worker:6066"}}])
        state = wait(lambda: (s := inhibited()) and s.get((ALERT, "live")) and s, 30,
                     "the live run's baseline alert inhibited by TargetDown")
        assert state[ALERT, "live"] and state[ALERT, "backfill"]
        assert not state["AffectwatchTargetDown", ""]
    finally:
        am.stop()


def test_an_alert_on_a_topic_holds_back_the_same_alert_on_topic_all(tmp_path):
    """One problem used to page twice: for topic `all` and for the topic that drives it (issue 11 defect 3)."""
    import urllib.request

    am = Alertmanager(tmp_path, "http://127.0.0.1:9").start()
    labels = {"alertname": ALERT, "severity": "critical", "run": "live", "model": "m", "steering": "default",
              "group": "liberal", "dimension": "emotion", "window": "24h"}
    try:
        body = json.dumps([{"labels": {**labels, "topic": t}} for t in ("all", "guns")]
                          + [{"labels": {**labels, "model": "other", "topic": "all"}}]).encode()
        urllib.request.urlopen(urllib.request.Request(f"{am.url}/api/v2/alerts", data=body, method="POST",
                                                      headers={"Content-Type": "application/json"}), timeout=5)

        def state() -> dict[tuple[str, str], bool] | None:
            with urllib.request.urlopen(f"{am.url}/api/v2/alerts", timeout=5) as r:
                got = json.loads(r.read())
            out = {(a["labels"]["model"], a["labels"]["topic"]): bool(a["status"]["inhibitedBy"]) for a in got}
            return out if len(out) == 3 and out.get(("m", "all")) else None

        seen = wait(state, 30, "the topic-all alert held back")
        assert seen == {("m", "all"): True, ("m", "guns"): False, ("other", "all"): False}
    finally:
        am.stop()
