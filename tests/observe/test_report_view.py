"""The report as a person sees it: rendered by headless Chromium (issue 11).
Asserts on what is visible: titles, intervals and their whiskers, "too few"
marks, driving labels, the drift chart's alert threshold, every chart loaded."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from streams.settings import BUNDLED
from tests.chromium_support import Page
from tests.conftest import T0

pytestmark = pytest.mark.timeout(600)


def pixels(png: bytes, rgb: tuple[int, int, int], tol: int = 12) -> int:
    a = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return int((np.abs(a - np.array(rgb)).max(axis=2) <= tol).sum())


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    few = tmp / "few.jsonl"  # a model with five answers: its figures have too few texts
    few.write_text("".join(json.dumps({"id": f"t{i}", "model": "tiny-lm", "text": "What a lovely day, thank you!",
                                       "created_at": T0 + i}) + "\n" for i in range(5)))
    out = tmp / "run"
    done = subprocess.run([sys.executable, "-m", "streams.cli", "run", "--posts", str(BUNDLED / "demo" / "posts.jsonl"),
                           "--responses", str(BUNDLED / "demo" / "responses.jsonl"), "--responses", str(few),
                           "--out", str(out), "--metrics-port", "-1"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def test_the_report_shows_intervals_too_few_marks_and_why_in_chromium(report, tmp_path):
    with Page(report / "report.html") as page:
        text = page.eval("document.body.innerText")
        images = page.eval("Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth > 0])")
        shot = page.screenshot(tmp_path / "report.png")
    for title in ("Alignment with each group", "Why: the labels that drive each gap", "Every alignment figure",
                  "Liberal tendency", "Drift"):
        assert title in text, title
    assert "95% interval" in text and "too few" in text
    assert "tiny-lm" in text  # the model whose figures are marked
    assert images and all(ok for _, ok in images), images
    assert {alt for alt, _ in images} == {"alignment", "distributions", "entropy_drift"}
    assert shot.stat().st_size > 50_000
    # In the charts themselves: whiskers on the alignment bars, the drift alert threshold
    assert pixels((report / "alignment.png").read_bytes(), (0x2D, 0x37, 0x48)) > 100
    drift = np.asarray(Image.open(report / "entropy_drift.png").convert("RGB")).astype(int)
    red = (drift[..., 0] > 150) & (drift[..., 1] < 110) & (drift[..., 2] < 110)  # the dotted threshold line
    assert red.sum() > 100
