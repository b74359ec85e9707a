"""Prompt profiles and endpoints of the probe, from one YAML file.

A profile is a system prompt, a user template (``{post}`` is the post's text;
``{topic}`` and ``{group}`` may be used too) and its sampling (temperature,
top_p, max_tokens). An endpoint is an OpenAI-compatible base URL, the model
name it is asked for, the environment variable that holds its key, the profiles
it is probed with and its own limits.
"""

from __future__ import annotations

import os
import string
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from streams.core.names import MAX_NAME_CHARS, name_problem

FIELDS = {"post", "topic", "group"}


class ProbeConfigError(ValueError):
    """The probe file is missing, not YAML, or names something wrong."""


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    system: str = ""
    user: str = Field(..., description="the user message; {post} is replaced by the post's text")
    temperature: float = Field(0.7, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(120, ge=1, le=8192)

    @field_validator("user", "system")
    @classmethod
    def _fields(cls, v: str) -> str:
        names = {f for _, f, _, _ in string.Formatter().parse(v) if f is not None}
        unknown = names - FIELDS
        if unknown:
            raise ValueError(f"unknown placeholders {sorted(unknown)}; known: {sorted(FIELDS)}")
        return v

    @model_validator(mode="after")
    def _post(self) -> Profile:
        if "{post}" not in self.user:
            raise ValueError("the user template must contain {post}")
        return self

    def messages(self, post: str, topic: str, group: str) -> list[dict[str, str]]:
        values = {"post": post, "topic": topic, "group": group}
        out = [{"role": "system", "content": self.system.format(**values)}] if self.system else []
        return [*out, {"role": "user", "content": self.user.format(**values)}]

    def sampling(self) -> dict[str, float]:
        return {"temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens}


class Endpoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., description="the `model` label of its answers")
    url: str
    model: str = Field(..., description="model name sent in each request")
    api_key_env: str | None = None
    profiles: list[str] | None = None  # None: every profile
    concurrency: int = Field(2, ge=1, le=256)
    requests_per_second: float = Field(5.0, gt=0, le=10_000)
    timeout_seconds: float = Field(60.0, gt=0)
    retries: int = Field(2, ge=0, le=20, description="retries inside one attempt (backoff doubles)")
    backoff_seconds: float = Field(1.0, ge=0)
    budget_tokens: int = Field(200_000, ge=1, description="tokens per budget window")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        problem = name_problem(v, MAX_NAME_CHARS)
        if problem:
            raise ValueError(f"endpoint name {problem}")
        return v

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("url must start with http:// or https://")
        return v

    def api_key(self) -> str | None:
        if not self.api_key_env:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise ProbeConfigError(f"endpoint {self.name}: environment variable {self.api_key_env} is not set")
        return key


class ProbeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profiles: dict[str, Profile]
    endpoints: list[Endpoint] = []

    @model_validator(mode="after")
    def _check(self) -> ProbeConfig:
        for name in self.profiles:
            problem = name_problem(name, MAX_NAME_CHARS)
            if problem:
                raise ValueError(f"profile name {name!r}: {problem}")
        seen: set[str] = set()
        for e in self.endpoints:
            if e.name in seen:
                raise ValueError(f"two endpoints are named {e.name}")
            seen.add(e.name)
            missing = [p for p in e.profiles or [] if p not in self.profiles]
            if missing:
                raise ValueError(f"endpoint {e.name} names unknown profiles {missing}")
        return self

    def profiles_of(self, endpoint: Endpoint) -> list[str]:
        return list(endpoint.profiles) if endpoint.profiles is not None else sorted(self.profiles)


def load(path: Path) -> ProbeConfig:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProbeConfigError(f"{path}: {exc.strerror or exc}") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ProbeConfigError(f"{path}: not YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ProbeConfigError(f"{path}: must hold a mapping with 'profiles' and 'endpoints'")
    try:
        return ProbeConfig.model_validate(data)
    except ValidationError as exc:
        first = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
        raise ProbeConfigError(f"{path}: {first}") from exc
