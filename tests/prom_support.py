"""Debian's Prometheus and Alertmanager, started for real on loopback ports
with configurations built around the repository's rule and route files."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from streams.kafka.localkafka import free_port

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy" / "prometheus" / "rules" / "affectwatch.rules.yml"
ALERTMANAGER = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"


def binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is not installed: run deploy/ensure-tools.sh (apt-get install prometheus "
                           "prometheus-alertmanager)")
    return path


def get_json(url: str, timeout: float = 5) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} not ready; see {log}")


def rules_with_short_for(out: Path, alerts: dict[str, str]) -> Path:
    """The repository's rules, with the ``for`` of the named alerts shortened
    (the expressions are untouched) so that a test sees them fire in seconds."""
    doc = yaml.safe_load(RULES.read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") in alerts:
                rule["for"] = alerts[rule["alert"]]
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


class Daemon:
    """A Debian binary on a free loopback port with a configuration file in tmp."""

    name = ""

    def __init__(self, tmp: Path, doc: dict[str, Any]) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.config = tmp / f"{self.name}.yml"
        self.config.write_text(yaml.safe_dump(doc, sort_keys=False))
        self.log = tmp / f"{self.name}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self):  # -> Self
        self.proc = subprocess.Popen(self.command(), stdout=self.log.open("wb"), stderr=subprocess.STDOUT)
        wait_http(f"{self.url}/-/ready", self.proc, self.log)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)


class Alertmanager(Daemon):
    name = "alertmanager"

    def __init__(self, tmp: Path, webhook_url: str) -> None:
        doc = yaml.safe_load(ALERTMANAGER.read_text())
        doc["route"].update(group_wait="1s", group_interval="1s", repeat_interval="1h")
        for route in doc["route"].get("routes", []):
            route.pop("repeat_interval", None)
        for receiver in doc["receivers"]:
            for hook in receiver.get("webhook_configs", []):
                hook["url"] = webhook_url + urllib.parse.urlsplit(hook["url"]).path
        super().__init__(tmp, doc)

    def command(self) -> list[str]:
        return [binary("prometheus-alertmanager"), f"--config.file={self.config}",
                f"--storage.path={self.tmp / 'am-data'}", f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=", "--log.level=warn"]


GRAFANA_URL = "http://grafana.test:3000"  # the external label every alert's dashboard_url starts with


class Prometheus(Daemon):
    name = "prometheus"

    def __init__(self, tmp: Path, targets: list[str], rules: list[Path], alertmanager: str | None = None,
                 interval: str = "1s") -> None:
        doc: dict[str, Any] = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval,
                       "external_labels": {"grafana_url": GRAFANA_URL}},
            "rule_files": [str(r) for r in rules],
            "scrape_configs": [{"job_name": "affectwatch", "static_configs": [{"targets": targets}]}],
        }
        if alertmanager:
            doc["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
        super().__init__(tmp, doc)

    def command(self) -> list[str]:
        return [binary("prometheus"), f"--config.file={self.config}", f"--storage.tsdb.path={self.tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"]

    def query(self, expr: str) -> list[dict]:
        q = urllib.parse.urlencode({"query": expr})
        body = get_json(f"{self.url}/api/v1/query?{q}")
        assert body["status"] == "success", body
        return body["data"]["result"]

    def query_range(self, expr: str, start: float, end: float, step: str = "1s") -> list[dict]:
        q = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
        body = get_json(f"{self.url}/api/v1/query_range?{q}")
        assert body["status"] == "success", body
        return body["data"]["result"]

    def alerts(self) -> list[dict]:
        return get_json(f"{self.url}/api/v1/alerts")["data"]["alerts"]

    def rule_health(self) -> list[tuple[str, str, str]]:
        """(name, health, last error) of every loaded rule."""
        groups = get_json(f"{self.url}/api/v1/rules")["data"]["groups"]
        return [(r["name"], r["health"], r.get("lastError", "")) for g in groups for r in g["rules"]]
