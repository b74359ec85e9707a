"""Grafana dashboards as code (grafana-foundation-sdk), and their upload.

Five dashboards: overview (alignment, partisan baseline, liberal tendency,
entropy), distributions (label shares per group and model), drift (JSD over
time with alert annotations), pipeline health, and the probe (asking,
failures, budget, and answers paired with their posts). Every panel filters on the
template variables run, model, steering, group, topic, dimension and window
where the metric carries them. ``affectwatch dashboards build`` writes the JSON
into ``dashboards/``; Grafana provisions it from there (deploy/grafana).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.cog.encoder import JSONEncoder

from streams.observe.dashboards.figures import distributions, drift, overview
from streams.observe.dashboards.operations import health, probe
from streams.observe.dashboards.panels import DATASOURCE, DEFAULTS, UIDS

__all__ = ["DATASOURCE", "DEFAULTS", "UIDS", "build_all", "concrete", "push", "queries", "write_all"]

BUILDERS = {"overview": overview, "distributions": distributions, "drift": drift, "health": health,
            "probe": probe}


def build_all() -> dict[str, dict[str, Any]]:
    """name -> dashboard JSON (as a dict)."""
    enc = JSONEncoder(sort_keys=True, indent=2)
    return {name: json.loads(enc.encode(make().build())) for name, make in BUILDERS.items()}


def write_all(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, board in build_all().items():
        path = out_dir / f"{name}.json"
        path.write_text(json.dumps(board, indent=2, sort_keys=True) + "\n")
        paths.append(path)
    return paths


def queries(board: dict[str, Any]) -> list[str]:
    """Every PromQL expression of a dashboard: panel targets and annotations."""
    out = []
    for panel in board.get("panels", []):
        for sub in [panel, *panel.get("panels", [])]:
            out += [t["expr"] for t in sub.get("targets", []) if t.get("expr")]
    out += [a["expr"] for a in board.get("annotations", {}).get("list", []) if a.get("expr")]
    return out


def concrete(expr: str, rate_interval: str = "1m", values: dict[str, str] | None = None) -> str:
    """A dashboard expression as Grafana sends it: each variable at ``values``
    (for example ``DEFAULTS``, what a dashboard opens on), else on All."""
    expr = expr.replace("$__rate_interval", rate_interval)
    return re.sub(r"\$(\w+)", lambda m: (values or {}).get(m.group(1), "") or ".*", expr)


def push(boards: dict[str, dict[str, Any]], url: str, token: str | None, folder_uid: str | None = None) -> list[str]:
    """Upload dashboards with grafana-client; returns their URLs."""
    from urllib.parse import urlsplit

    from grafana_client import GrafanaApi

    parts = urlsplit(url)
    api = GrafanaApi(auth=token, host=parts.hostname or "localhost", port=parts.port,
                     protocol=parts.scheme or "http", url_path_prefix=parts.path.strip("/"))
    out = []
    for board in boards.values():
        res = api.dashboard.update_dashboard({"dashboard": board, "overwrite": True,
                                              **({"folderUid": folder_uid} if folder_uid else {})})
        out.append(str(res.get("url", board["uid"])))
    return out
