"""The tree's direction of imports (pyproject's import-linter contracts) holds,
and the contracts really bite: a core module that imports an adapter breaks them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess:
    # PYTHONPATH first, so grimp reads this tree's `streams`, not the installed one.
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_import_contracts_are_kept():
    run = _lint(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def test_a_core_module_importing_an_adapter_breaks_the_contract(tmp_path):
    for name in ("streams", "models"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("*.onnx", "__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    windows = tmp_path / "streams" / "core" / "windows.py"
    windows.write_text(windows.read_text() + "\nfrom streams.observe.metrics import Metrics  # noqa\n")
    run = _lint(tmp_path)
    assert run.returncode != 0
    assert "The core and DIKE import no adapter" in run.stdout
    assert "streams.core.windows -> streams.observe.metrics" in run.stdout
