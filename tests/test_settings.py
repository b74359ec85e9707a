"""The one settings object, in groups: environment, file, keywords, the names of
earlier releases, validation at start-up, files checked only when needed, documentation."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from streams.settings import GROUPS, Settings, SettingsError
from streams.settings.aliases import ALIASES

ROOT = Path(__file__).resolve().parent.parent


def every_variable() -> dict[str, tuple[str, str]]:
    return {f"AFFECTWATCH_{g}_{f}".upper(): (g, f) for g, model in GROUPS.items() for f in model.model_fields}


def test_environment_and_file(monkeypatch, tmp_path: Path):
    cfg = tmp_path / "aw.yaml"
    cfg.write_text("windows: {bucket_seconds: 60, spans: {'10m': 600}, drift_reference_seconds: 600}\n"
                   "figures: {min_samples: 7, alpha: 0.01}\n")
    monkeypatch.setenv("AFFECTWATCH_CONFIG", str(cfg))
    monkeypatch.setenv("AFFECTWATCH_FIGURES_MIN_SAMPLES", "11")
    monkeypatch.setenv("AFFECTWATCH_KAFKA_BOOTSTRAP", "broker:9093")
    s = Settings()
    assert s.windows.bucket_seconds == 60 and s.windows.spans == {"10m": 600}
    assert s.figures.min_samples == 11 and s.figures.alpha == 0.01  # the environment wins over the file, field by field
    assert s.kafka.bootstrap == "broker:9093"
    assert Settings(figures__min_samples=3).figures.min_samples == 3  # keywords win over both


def test_the_names_of_earlier_releases_still_work_and_say_their_new_name(monkeypatch, tmp_path: Path, caplog):
    cfg = tmp_path / "aw.yaml"
    cfg.write_text("min_samples: 7\nworker_web_port: 7000\n")
    monkeypatch.setenv("AFFECTWATCH_CONFIG", str(cfg))
    monkeypatch.setenv("AFFECTWATCH_BATCH_SIZE", "32")
    monkeypatch.setenv("AFFECTWATCH_SPANS", '{"2h": 7200}')
    with caplog.at_level(logging.WARNING, logger="affectwatch.settings"):
        s = Settings()
    assert s.classifier.batch_size == 32 and s.windows.spans == {"2h": 7200}
    assert s.figures.min_samples == 7 and s.worker.http_port == 7000
    said = caplog.text
    assert "AFFECTWATCH_BATCH_SIZE" in said and "AFFECTWATCH_CLASSIFIER_BATCH_SIZE" in said
    assert "worker_web_port" in said and "worker: {http_port: ...}" in said
    # A new name wins over an old one.
    monkeypatch.setenv("AFFECTWATCH_CLASSIFIER_BATCH_SIZE", "64")
    assert Settings().classifier.batch_size == 64
    assert Settings(event_to_ms=5, kafka_bootstrap="b:1").worker.backfill_to_ms == 5  # keywords too


def test_every_name_of_earlier_releases_has_a_field():
    for old, (group, field) in ALIASES.items():
        assert field in GROUPS[group].model_fields, old
    assert len(ALIASES) == 103  # the flat names of the release before the groups, each kept


def test_values_are_checked_at_start_up():
    with pytest.raises(ValidationError, match="whole number"):
        Settings(windows__bucket_seconds=300, windows__spans={"x": 400})
    with pytest.raises(ValidationError, match="liberal_max_score"):
        Settings(groups__liberal_max_score=0.5, groups__conservative_min_score=0.1)
    with pytest.raises(ValidationError, match="heartbeat_seconds"):
        Settings(kafka__heartbeat_seconds=10, kafka__session_timeout_seconds=5)
    with pytest.raises(ValidationError, match="not a usable name"):
        Settings(outputs__run_label="a b\n")


def test_unknown_setting_is_refused(monkeypatch, tmp_path: Path):
    cfg = tmp_path / "aw.yaml"
    for text in ("bukket_seconds: 60\n", "windows: {bukket_seconds: 60}\n", "nogroup: {a: 1}\n"):
        cfg.write_text(text)
        monkeypatch.setenv("AFFECTWATCH_CONFIG", str(cfg))
        with pytest.raises(ValidationError):
            Settings()


def test_files_are_checked_only_for_the_commands_that_read_them(tmp_path: Path):
    s = Settings(subjects__file=tmp_path / "missing.yaml", classifier__artifacts=tmp_path,
                 kafka__ssl_cafile=tmp_path / "ca.pem")
    assert s.require("windows", "figures") is s  # `affectwatch scores` reads none of these files
    with pytest.raises(SettingsError, match="AFFECTWATCH_SUBJECTS_FILE: no such file"):
        s.require("subjects")
    with pytest.raises(SettingsError, match="AFFECTWATCH_KAFKA_SSL_CAFILE: no such file"):
        s.require("kafka")
    with pytest.raises(SettingsError, match=r"AFFECTWATCH_CLASSIFIER_ARTIFACTS: .* has no meta\.json"):
        s.require("classifier")


def test_every_setting_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in every_variable() if f"`{name}`" not in readme]
    assert not missing
    for old in ALIASES:  # and the names of earlier releases, with their new names
        assert f"`AFFECTWATCH_{old.upper()}`" in readme, old


def test_a_classifier_release_folder_is_checked_and_gives_its_topic_threshold(tmp_path: Path):
    import json
    import shutil

    from streams.core.pipeline import subject_min_similarity
    from streams.settings import ARTIFACTS

    with pytest.raises(SettingsError, match=r"has no meta\.json"):
        Settings(classifier__artifacts=tmp_path).require("classifier")
    assert subject_min_similarity(Settings()) == json.loads((ARTIFACTS / "meta.json").read_text()).get(
        "topic_min_similarity", 0.9)
    release = tmp_path / "release"
    release.mkdir()
    for name in ("meta.json", "tokenizer.json"):
        shutil.copy(ARTIFACTS / name, release / name)
    with pytest.raises(SettingsError, match=r"no affect-fp32\.onnx"):
        Settings(classifier__artifacts=release, classifier__variant="fp32").require("classifier")
    (release / "affect-int8.onnx").symlink_to(ARTIFACTS / "affect-int8.onnx")
    meta = json.loads((release / "meta.json").read_text())
    (release / "meta.json").write_text(json.dumps({**meta, "topic_min_similarity": 0.42}))
    assert subject_min_similarity(Settings(classifier__artifacts=release)) == 0.42
    assert subject_min_similarity(Settings(classifier__artifacts=release, subjects__min_similarity=0.7)) == 0.7


def test_the_readme_gives_every_scalar_setting_its_real_default():
    """The settings table is written by hand: a changed default must change it too."""
    rows = dict(re.findall(r"^\| `(AFFECTWATCH_[A-Z0-9_]+)` \| ([^|]*) \|", (ROOT / "README.md").read_text(), re.M))
    wrong = []
    for name, (group, field) in every_variable().items():
        default, cell = GROUPS[group].model_fields[field].default, rows[name].strip().strip("`")
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


def test_a_bad_setting_is_one_line_naming_its_variable(monkeypatch, tmp_path: Path):
    import subprocess
    import sys

    env = {"AFFECTWATCH_FIGURES_ALPHA": "2", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "streams.cli", "scores", "--idle", "0"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "AFFECTWATCH_FIGURES_ALPHA" in out.stderr
    env = {"AFFECTWATCH_CLASSIFIER_ARTIFACTS": str(tmp_path), "AFFECTWATCH_KAFKA_BOOTSTRAP": "127.0.0.1:1",
           "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "streams.cli", "scores", "--idle", "0"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert "CLASSIFIER_ARTIFACTS" not in out.stderr and "cannot reach Kafka" in out.stderr  # no model needed
