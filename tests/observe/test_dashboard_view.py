"""What a person sees when a dashboard opens (issue 11): the demo's figures,
scraped by a real Prometheus, queried the way Grafana queries them with the
dashboards' default selections. Counts must be the true ones, every line's
legend must name it uniquely, and no panel may draw hundreds of lines."""

from __future__ import annotations

import re
import time
from collections import Counter

import pytest

from streams.embedded import EmbeddedRunner, read_inputs
from streams.observe.dashboards import DEFAULTS, build_all, concrete
from streams.settings import BUNDLED, Settings
from streams.wiring import build_core
from tests.prom_support import RULES, Prometheus

pytestmark = pytest.mark.timeout(600)
MAX_LINES = 60


def legend(fmt: str, labels: dict[str, str]) -> str:
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt)


@pytest.fixture(scope="module")
def scraped(tmp_path_factory, classifier):
    tmp = tmp_path_factory.mktemp("view")
    settings = Settings(metrics_port=-1, permutations=99)
    core = build_core(settings, classifier)
    port = core.metrics.serve("127.0.0.1", 0)
    result = EmbeddedRunner(core.scorer, core.aggregator, core.metrics).run(
        read_inputs(BUNDLED / "demo" / "posts.jsonl", BUNDLED / "demo" / "responses.jsonl"))
    prom = Prometheus(tmp, [f"127.0.0.1:{port}"], [RULES]).start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not prom.query("affectwatch_alignment"):
        time.sleep(0.5)
    yield result, prom
    prom.stop()


def test_the_texts_in_the_window_stat_shows_the_true_counts(scraped):
    """It showed human 2356 / lm 3211 where the truth was 1009 / 1400: it summed topic `all`
    with every topic and both windows."""
    result, prom = scraped
    board = build_all()["overview"]
    stat = next(p for p in board["panels"] if p.get("title") == "Texts in the window")
    got = {r["metric"]["stream"]: float(r["value"][1])
           for r in prom.query(concrete(stat["targets"][0]["expr"], values=DEFAULTS))}
    truth = Counter()
    for s in result.figures.series:
        if s.subject == "all" and s.window == "24h" and s.dimension == "emotion":
            truth[s.series.stream] += s.n
    assert got == dict(truth) and truth["human"] > 500 and truth["lm"] > 500
    # with every variable on All, each value is still one topic's and one window's, never a sum of them
    rows = prom.query(concrete(stat["targets"][0]["expr"]))
    wide = {r["metric"]["stream"]: float(r["value"][1]) for r in rows
            if r["metric"].get("topic") == "all" and r["metric"].get("window") == "24h"}
    assert wide == dict(truth)


@pytest.mark.parametrize("name", ["overview", "distributions", "drift"])
def test_every_panel_under_the_default_selection_draws_few_lines_each_named_uniquely(scraped, name):
    _, prom = scraped
    board = build_all()[name]
    values = {**DEFAULTS, "model": "persona-lm"}  # the overview repeats its first row per model
    checked = 0
    for panel in board["panels"]:
        for t in panel.get("targets", []):
            if not t.get("legendFormat") or t.get("format") == "table":
                continue
            rows = prom.query(concrete(t["expr"], values=values))
            assert len(rows) <= MAX_LINES, f"{name} / {panel['title']}: {len(rows)} lines by default"
            # every line is named apart from the others, by default and with every variable on All
            for got in (rows, prom.query(concrete(t["expr"]))):
                names = [legend(t["legendFormat"], r["metric"]) for r in got]
                dupes = [n for n, c in Counter(names).items() if c > 1]
                assert not dupes, f"{name} / {panel['title']}: legends shared by several lines: {dupes[:5]}"
            checked += 1
    assert checked >= 3


def test_figures_with_too_few_texts_are_listed_in_grafana_and_only_those(scraped):
    result, prom = scraped
    board = build_all()["overview"]
    panel = next(p for p in board["panels"] if p.get("title", "").startswith("Figures with too few texts"))
    rows = prom.query(concrete(panel["targets"][0]["expr"]))
    got = {(r["metric"]["steering"], r["metric"]["group"], r["metric"]["topic"], r["metric"]["dimension"],
            r["metric"]["window"]) for r in rows}
    few = {(a.steering, a.group, a.subject, a.dimension, a.window) for a in result.figures.alignment
           if not a.enough_samples}
    assert got == few and few, "the demo has topics with few texts"
