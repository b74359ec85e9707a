"""What every command group shares: the Typer app, the consoles, settings and
the chat client built from settings."""

from __future__ import annotations

import typer
from pydantic import ValidationError
from rich.console import Console

from streams.settings import Settings

# Plain help (click's): flags show no value type (rich's showed `--json <bool>`, as if it took one)
# and docstrings print as text.
app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Streaming monitor of emotional and moral affect.")
# Wide tables even when the output is a pipe or a CI log, not a terminal.
# No emoji codes: a series such as lm:smile:default is a name, not ":smile:".
console = Console(width=None if Console().is_terminal else 160, emoji=False)
err = Console(stderr=True, emoji=False)
# One `topics` group for both meanings: the project's Kafka topics (`create`)
# and the subject topics of the figures (`discover` a draft topics file).
topics_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                         help="Kafka topics (create) and subject topics (discover a draft topics file).")
app.add_typer(topics_app, name="topics")


def _chat_client(settings: Settings):
    """The OpenAI-compatible client of the reviewer and of `dike rewrite`, from settings."""
    import os

    from streams.review.chat import ChatClient, ChatConfig

    return ChatClient(ChatConfig(settings.review_endpoint or "", settings.review_model,
                                 os.environ.get(settings.review_api_key_env), settings.review_timeout_seconds,
                                 settings.review_retries, settings.review_backoff_seconds, settings.review_max_tokens,
                                 settings.review_token_budget))


def _settings(**overrides: object) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:  # a settings error is the user's to fix: say it plainly, no traceback
        err.print("[red]invalid settings:[/red]", markup=True)
        for e in exc.errors():
            where = ".".join(str(x) for x in e["loc"]) or "settings"
            name = f"AFFECTWATCH_{where.split('.')[0].upper()}" if e["loc"] else where
            err.print(f"  {name}: {e['msg']}", markup=False, highlight=False)
        raise typer.Exit(2) from exc
    except Exception as exc:  # an unreadable settings file, for example
        err.print(f"[red]invalid settings:[/red] {type(exc).__name__}: {exc}")
        raise typer.Exit(2) from exc



def _require_kafka(settings: Settings, timeout: float = 5.0) -> None:
    """Fail fast, in one line, when no bootstrap server accepts a connection
    (the clients would otherwise wait about 30 s and end in a long traceback)."""
    import socket

    problems = []
    for server in settings.kafka_bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout):
                return
        except ValueError:
            problems.append(f"{server.strip()}: not host:port")
        except OSError as exc:
            problems.append(f"{server.strip()}: {exc.strerror or exc}")
    err.print(f"[red]cannot reach Kafka[/red] ({'; '.join(problems)}). Is the broker running? "
              "Set AFFECTWATCH_KAFKA_BOOTSTRAP or --bootstrap.", highlight=False, soft_wrap=True)
    raise typer.Exit(2)
