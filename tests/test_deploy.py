"""The deployment files: rules under promtool, Alertmanager under amtool, the
compose file's structure and every file it mounts, runbooks, dashboards."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml

from streams.observe.dashboards import DATASOURCE, UIDS, build_all, queries
from tests.prom_support import ALERTMANAGER, RULES, binary

ROOT = Path(__file__).resolve().parent.parent
PROM_DIR = ROOT / "deploy" / "prometheus"


def run(*cmd: str, cwd: Path = ROOT) -> str:
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout + res.stderr


def alert_rules() -> list[dict]:
    doc = yaml.safe_load(RULES.read_text())
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def test_promtool_unit_tests_pass_and_cover_every_alert():
    out = run(binary("promtool"), "test", "rules", "affectwatch.test.yml", cwd=PROM_DIR / "tests")
    assert "SUCCESS" in out
    tests = yaml.safe_load((PROM_DIR / "tests" / "affectwatch.test.yml").read_text())
    tested = {a["alertname"] for t in tests["tests"] for a in t.get("alert_rule_test", [])
              if a.get("exp_alerts")}
    assert {r["alert"] for r in alert_rules()} <= tested, "every alert needs a promtool test where it fires"


def test_prometheus_and_alertmanager_configs_check():
    assert "SUCCESS" in run(binary("promtool"), "check", "config", str(PROM_DIR / "prometheus.yml"))
    assert "SUCCESS" in run(binary("promtool"), "check", "rules", str(RULES))
    assert "SUCCESS" in run(binary("amtool"), "check-config", str(ALERTMANAGER))


def test_every_alert_has_severity_summary_description_runbook_and_dashboard():
    for rule in alert_rules():
        name, ann = rule["alert"], rule["annotations"]
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        assert ann["summary"] and ann["description"], name
        m = re.search(r"/blob/main/(docs/runbooks/[\w.]+\.md)$", ann["runbook_url"])
        assert m, name
        book = (ROOT / m.group(1)).read_text()
        for section in ("## Meaning", "## Impact", "## Diagnosis", "## Mitigation"):
            assert section in book, f"{m.group(1)} lacks {section}"
        uid = re.search(r"/d/([\w-]+)", ann["dashboard_url"]).group(1)
        assert uid in UIDS.values(), f"{name} links to an unknown dashboard {uid}"


def test_alertmanager_routes_by_severity_and_inhibits_figures_while_the_pipeline_is_unhealthy():
    doc = yaml.safe_load(ALERTMANAGER.read_text())
    routes = {tuple(r["matchers"]): r["receiver"] for r in doc["route"]["routes"]}
    assert routes[('severity="critical"',)] == "pager" and routes[('severity="warning"',)] == "tickets"
    health = doc["inhibit_rules"][0]
    assert "AffectwatchTargetDown" in health["source_matchers"][0]
    assert "AffectwatchModelBelowPartisanBaseline" in health["target_matchers"][0]
    assert "equal" not in health, "TargetDown has no run label: an `equal: [run]` never matches"
    assert all(h["send_resolved"] for r in doc["receivers"] for h in r["webhook_configs"])


def test_compose_file_structure_and_every_mounted_file_exists():
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = doc["services"]
    assert {"kafka", "topics", "worker", "prometheus", "alertmanager", "grafana", "webhook", "replay"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:")
    env = services["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller", "KRaft, no ZooKeeper"
    for name, svc in services.items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
        for vol in svc.get("volumes", []):
            src = vol.split(":", 1)[0]
            if src.startswith("."):
                assert (ROOT / src).exists(), f"{name} mounts missing {src}"
        build = svc.get("build")
        if build:
            dockerfile = ROOT / build["context"] / build["dockerfile"]
            assert dockerfile.exists()
            for line in dockerfile.read_text().splitlines():
                if line.startswith("COPY "):
                    for src in line.split()[1:-1]:
                        assert (ROOT / src).exists(), f"Dockerfile copies missing {src}"
    for name in ("kafka", "prometheus", "alertmanager", "grafana"):
        assert "healthcheck" in services[name], name
    assert "HEALTHCHECK" in (ROOT / "deploy" / "Dockerfile").read_text()  # the worker's own
    assert services["replay"]["profiles"] == ["replay"], "the replay job is optional"
    # Prometheus in compose scrapes the worker and loads the rule folder it is given.
    prom = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())
    assert prom["scrape_configs"][0]["static_configs"][0]["targets"] == ["worker:6066"]
    # ... and the optional probe, on the port the probe service publishes.
    assert prom["scrape_configs"][1]["static_configs"][0]["targets"] == ["probe:9467"]
    assert services["probe"]["profiles"] == ["probe"] and "9467" in services["probe"]["ports"][0]
    assert "9467/metrics" in " ".join(services["probe"]["healthcheck"]["test"]), "not the worker's /ready"


def test_generated_dashboards_are_committed_current_and_use_the_provisioned_datasource():
    boards = build_all()
    assert set(boards) == {"overview", "distributions", "drift", "health", "probe"}
    for name, board in boards.items():
        committed = json.loads((ROOT / "dashboards" / f"{name}.json").read_text())
        assert committed == board, f"dashboards/{name}.json is stale: run `affectwatch dashboards build`"
        assert queries(board), name
    names = {v["name"] for v in boards["overview"]["templating"]["list"]}
    assert {"model", "steering", "group", "topic", "dimension", "window"} <= names
    ds = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    assert ds["datasources"][0]["uid"] == DATASOURCE.uid
    drift = boards["drift"]["annotations"]["list"]
    assert any("ALERTS" in a.get("expr", "") for a in drift), "drift panels carry alert annotations"


def test_dashboards_push_posts_each_dashboard_with_the_token(tmp_path):
    """Grafana cannot be installed here: a local HTTP server stands in for its
    dashboard API (POST /api/dashboards/db) and records what grafana-client sends."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from streams.observe.dashboards import push

    got = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server's name for it
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            got.append((self.path, self.headers.get("Authorization"), body))
            uid = body["dashboard"]["uid"]
            data = json.dumps({"status": "success", "uid": uid, "url": f"/d/{uid}/x", "version": 1}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        urls = push(build_all(), f"http://127.0.0.1:{srv.server_address[1]}", "glsa_test", folder_uid="ops")
    finally:
        srv.shutdown()
        srv.server_close()
    assert sorted(urls) == sorted(f"/d/{u}/x" for u in UIDS.values())
    for path, auth, body in got:
        assert path == "/api/dashboards/db" and auth == "Bearer glsa_test"
        assert body["overwrite"] is True and body["folderUid"] == "ops" and body["dashboard"]["panels"]


def test_the_dockerfile_passes_hadolint_and_the_build_context_is_small():
    """hadolint flagged DL3013 and DL3025; there was no .dockerignore (an 808 MB context with
    .venv) and the unused fp32 graph went into the image twice (issue 11 defect 9)."""
    import sys

    hadolint = Path(sys.executable).parent / "hadolint"
    out = subprocess.run([str(hadolint), str(ROOT / "deploy" / "Dockerfile")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[0 if ignore[0] == "*" else 1:] and "*" in ignore, "everything is excluded unless named"
    assert "models/artifacts/affect-fp32.onnx" in ignore and "models/training/" in ignore
    assert not any(line.startswith("!.venv") or line.startswith("!tests") for line in ignore)
    docker = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "AS wheel" in docker and "--mount=type=bind,from=wheel" in docker, "sources are not copied twice"
    for line in (ROOT / "deploy" / "requirements.txt").read_text().splitlines():
        assert line.startswith("#") or re.fullmatch(r"[A-Za-z0-9_.\-]+==[\w.+-]+", line), line


def test_compose_services_do_not_inherit_the_workers_healthcheck():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name in ("topics", "replay"):
        assert services[name]["healthcheck"] == {"disable": True}, name
    for name in ("webhook", "probe"):
        assert "/ready" not in " ".join(services[name]["healthcheck"]["test"]), name
    assert "healthcheck" not in services["worker"]  # the image's own /ready check is the worker's


def test_every_exported_metric_is_documented_and_charted_or_alerted_on():
    """Five metrics were exported but never charted or alerted on; one was not documented (issue 11)."""
    import streams.observe.metrics as m
    import streams.probe.metrics as pm

    names = set(re.findall(r'"(affectwatch_[a-z_]+)"', Path(m.__file__).read_text()))
    names |= set(re.findall(r'"(affectwatch_probe_[a-z_]+)"', Path(pm.__file__).read_text()))
    used = "".join(p.read_text() for p in (ROOT / "dashboards").glob("*.json")) + RULES.read_text()
    readme = (ROOT / "README.md").read_text() + (ROOT / "docs" / "probe.md").read_text()
    assert len(names) > 30
    for name in sorted(names):
        assert name in readme, f"{name} is not documented"
        assert name in used, f"{name} is neither charted nor alerted on"


def test_docker_compose_reads_the_compose_file():
    """`docker-compose config` as Compose itself reads the file (deploy/ensure-tools.sh installs it)."""
    compose = ROOT / ".venv-compose" / "bin" / "docker-compose"
    out = subprocess.run([str(compose), "config", "-q"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    services = subprocess.run([str(compose), "--profile", "replay", "--profile", "probe", "config", "--services"],
                              cwd=ROOT, capture_output=True, text=True, timeout=120).stdout.split()
    assert {"kafka", "topics", "worker", "prometheus", "alertmanager", "grafana", "webhook", "replay",
            "probe"} <= set(services), services
