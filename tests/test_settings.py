"""The one settings object: environment, file, validation, documentation."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from streams.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_environment_and_file(monkeypatch, tmp_path: Path):
    cfg = tmp_path / "aw.yaml"
    cfg.write_text("bucket_seconds: 60\nspans: {'10m': 600}\nmin_samples: 7\n")
    monkeypatch.setenv("AFFECTWATCH_CONFIG", str(cfg))
    monkeypatch.setenv("AFFECTWATCH_MIN_SAMPLES", "11")
    s = Settings()
    assert s.bucket_seconds == 60 and s.spans == {"10m": 600}
    assert s.min_samples == 11  # the environment wins over the file


def test_spans_must_be_whole_buckets():
    with pytest.raises(ValidationError, match="whole number"):
        Settings(bucket_seconds=300, spans={"x": 400})
    with pytest.raises(ValidationError, match="liberal_max_score"):
        Settings(liberal_max_score=0.5, conservative_min_score=0.1)


def test_unknown_setting_is_refused(monkeypatch, tmp_path: Path):
    cfg = tmp_path / "aw.yaml"
    cfg.write_text("bukket_seconds: 60\n")
    monkeypatch.setenv("AFFECTWATCH_CONFIG", str(cfg))
    with pytest.raises(ValidationError):
        Settings()


def test_every_setting_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    missing = [n for n in Settings.model_fields if f"`AFFECTWATCH_{n.upper()}`" not in readme]
    assert not missing


def test_a_classifier_release_folder_is_checked_at_start_up_and_gives_its_topic_threshold(tmp_path: Path):
    import json
    import shutil

    from streams.core.pipeline import topic_min_similarity
    from streams.settings import ARTIFACTS

    with pytest.raises(ValidationError, match=r"has no meta\.json"):
        Settings(classifier_artifacts=tmp_path)
    assert topic_min_similarity(Settings()) == json.loads((ARTIFACTS / "meta.json").read_text()).get(
        "topic_min_similarity", 0.9)
    release = tmp_path / "release"
    release.mkdir()
    for name in ("meta.json", "tokenizer.json"):
        shutil.copy(ARTIFACTS / name, release / name)
    with pytest.raises(ValidationError, match=r"no affect-fp32\.onnx"):
        Settings(classifier_artifacts=release, classifier_variant="fp32")
    (release / "affect-int8.onnx").symlink_to(ARTIFACTS / "affect-int8.onnx")
    meta = json.loads((release / "meta.json").read_text())
    (release / "meta.json").write_text(json.dumps({**meta, "topic_min_similarity": 0.42}))
    assert topic_min_similarity(Settings(classifier_artifacts=release)) == 0.42
    assert topic_min_similarity(Settings(classifier_artifacts=release, topic_min_similarity=0.7)) == 0.7


def test_the_readme_gives_every_scalar_setting_its_real_default():
    """The settings table is written by hand: a changed default must change it too."""
    import re

    rows = dict(re.findall(r"^\| `AFFECTWATCH_([A-Z0-9_]+)` \| ([^|]*) \|", (ROOT / "README.md").read_text(), re.M))
    wrong = []
    for name, field in Settings.model_fields.items():
        default, cell = field.default, rows[name.upper()].strip().strip("`")
        if isinstance(default, bool):
            ok = cell == str(default).lower()
        elif isinstance(default, int | float):
            ok = re.fullmatch(r"-?[0-9.]+", cell) is not None and float(cell) == default
        elif isinstance(default, str):
            ok = cell == default
        else:  # None, paths and lists are described in words
            continue
        if not ok:
            wrong.append((name, cell, default))
    assert not wrong
