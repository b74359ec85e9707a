"""The one settings object, in groups (``streams.settings.groups``).

Each field is set by the environment variable ``AFFECTWATCH_<GROUP>_<FIELD>``
(``AFFECTWATCH_KAFKA_BOOTSTRAP``, ``AFFECTWATCH_CLASSIFIER_BATCH_SIZE``) or by an
optional YAML file named by ``AFFECTWATCH_CONFIG`` (``kafka: {bootstrap: ...}``);
the environment wins over the file, and keywords over both. The flat names of
earlier releases still work, with a warning naming the new one
(``streams.settings.aliases``). Every field is documented in README.md
("Settings"); tests/test_settings.py checks that each is named there.

Values are checked at start-up; files are checked by ``require``, for the
commands that read them (``affectwatch scores`` needs no classifier).
"""

from __future__ import annotations

import json
import os
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from streams.settings.aliases import ALIASES, deprecated, env_name, nested
from streams.settings.groups import (
    GROUPS,
    ClassifierSettings,
    DikeSettings,
    FiguresSettings,
    GroupsSettings,
    KafkaSettings,
    LimitsSettings,
    OutputsSettings,
    ProbeSettings,
    ReviewSettings,
    SubjectsSettings,
    WindowsSettings,
    WorkerSettings,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
_OLD_ENV = {(group, field): f"AFFECTWATCH_{old.upper()}" for old, (group, field) in ALIASES.items()}


class SettingsError(ValueError):
    """A setting that names a file or folder which is not there (``Settings.require``)."""


def _complex(annotation: Any) -> bool:
    """Whether an environment value of this type is JSON (lists, mappings), as pydantic-settings reads them."""
    origin = typing.get_origin(annotation)
    if origin in (list, dict, tuple, set):
        return True
    return any(_complex(a) for a in typing.get_args(annotation) if a is not type(None))


class _Environment(PydanticBaseSettingsSource):
    """``AFFECTWATCH_<GROUP>_<FIELD>``, or a flat name of earlier releases (with a warning)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        out: dict[str, dict[str, Any]] = {}
        hints = {name: typing.get_type_hints(model) for name, model in GROUPS.items()}
        for group, model in GROUPS.items():
            for field in model.model_fields:
                name = env_name(group, field)
                raw = os.environ.get(name)
                old = _OLD_ENV.get((group, field))
                if raw is None and old not in (None, name) and (raw := os.environ.get(old)) is not None:
                    deprecated(old, group, field, "environment")
                    name = old
                if raw is None:
                    continue
                if _complex(hints[group][field]):
                    try:
                        raw = json.loads(raw)
                    except ValueError as exc:
                        raise ValueError(f"{name}: not JSON ({exc})") from exc
                out.setdefault(group, {})[field] = raw
        return out


class _YamlFile(PydanticBaseSettingsSource):
    """The file named by AFFECTWATCH_CONFIG, if any: groups of fields, or flat names of earlier releases."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("AFFECTWATCH_CONFIG")
        if not path:
            return {}
        data = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: the settings file must hold a mapping")
        return nested(data, where=path)


class _Keywords(PydanticBaseSettingsSource):
    """Keywords of ``Settings(...)``: groups, ``group__field`` or flat names of earlier releases."""

    def __init__(self, settings_cls: type[BaseSettings], init: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        self.init = init

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return nested(self.init())


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AFFECTWATCH_", extra="forbid")

    classifier: ClassifierSettings = Field(default_factory=ClassifierSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    groups: GroupsSettings = Field(default_factory=GroupsSettings)
    subjects: SubjectsSettings = Field(default_factory=SubjectsSettings)
    dike: DikeSettings = Field(default_factory=DikeSettings)
    review: ReviewSettings = Field(default_factory=ReviewSettings)
    windows: WindowsSettings = Field(default_factory=WindowsSettings)
    figures: FiguresSettings = Field(default_factory=FiguresSettings)
    outputs: OutputsSettings = Field(default_factory=OutputsSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    probe: ProbeSettings = Field(default_factory=ProbeSettings)

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        return (_Keywords(settings_cls, init_settings), _Environment(settings_cls), _YamlFile(settings_cls),
                file_secret_settings)

    def changed(self, **changes: Any) -> Settings:
        """A copy with ``changes`` (groups, ``group__field`` or flat names of earlier releases), validated again."""
        data = {group: getattr(self, group).model_dump() for group in GROUPS}
        for group, fields in nested(changes).items():
            if group not in GROUPS or not isinstance(fields, dict):
                raise ValueError(f"{group}: not a settings group")
            data[group] = {**data[group], **fields}
        return type(self).model_validate(data)

    def require(self, *groups: str) -> Settings:
        """Checks that the files the given groups name are there (SettingsError naming the variable)."""
        for group in groups:
            for field, path in self._files(group):
                if path is not None and not Path(path).is_file():
                    raise SettingsError(f"{env_name(group, field)}: no such file: {path}")
            if group == "classifier":
                c = self.classifier
                for need in ("meta.json", "tokenizer.json", f"affect-{c.variant}.onnx"):
                    if not (Path(c.artifacts) / need).is_file():
                        raise SettingsError(f"{env_name('classifier', 'artifacts')}: {c.artifacts} has no {need} "
                                            f"(classifier variant {c.variant!r})")
        return self

    def _files(self, group: str) -> list[tuple[str, Path | None]]:
        if group == "subjects":
            return [("file", self.subjects.file)]
        if group == "dike":
            return [("spectra_file", self.dike.spectra_file), *(("behavior_spectra", p)
                                                                for p in self.dike.behavior_spectra)]
        if group == "groups":
            return [("domain_table", self.groups.domain_table)]
        if group == "probe":
            return [("config", self.probe.config)]
        if group == "kafka":
            k = self.kafka
            return [("ssl_cafile", k.ssl_cafile), ("ssl_certfile", k.ssl_certfile), ("ssl_keyfile", k.ssl_keyfile)]
        return []

    @property
    def longest_span(self) -> int:
        return max(self.windows.spans.values())

    @property
    def resolved_domain_table(self) -> Path | None:
        if self.groups.domain_table is not None:
            return self.groups.domain_table
        from models.datasets import SharedDataMissing, shared_data_dir

        try:
            shared = shared_data_dir() / "ideology" / "robertson2018_bias_scores.csv"
        except SharedDataMissing:
            return None
        return shared if shared.is_file() else None

