"""What every command group shares: the Typer app, the consoles, settings and
the chat client built from settings."""

from __future__ import annotations

import typer
from pydantic import ValidationError
from rich.console import Console

from streams.settings import GROUPS, Settings, SettingsError

# Plain help (click's): flags show no value type (rich's showed `--json <bool>`, as if it took one)
# and docstrings print as text.
app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Streaming monitor of emotional and moral affect.")
# Wide tables even when the output is a pipe or a CI log, not a terminal.
# No emoji codes: a series such as lm:smile:default is a name, not ":smile:".
console = Console(width=None if Console().is_terminal else 160, emoji=False)
err = Console(stderr=True, emoji=False)
# "topic" means a Kafka topic only; the subjects of discussion that key every
# figure are subjects (`subjects discover`; `topics discover` is kept, with a warning).
topics_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Kafka topics: create the project's.")
app.add_typer(topics_app, name="topics")
subjects_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                           help="Subjects of discussion: discover a draft subjects file from posts.")
app.add_typer(subjects_app, name="subjects")


def _chat_client(settings: Settings):
    """The OpenAI-compatible client of the reviewer and of `dike rewrite`, from settings."""
    import os

    from streams.review.chat import ChatClient, ChatConfig

    return ChatClient(ChatConfig(settings.review.endpoint or "", settings.review.model,
                                 os.environ.get(settings.review.api_key_env), settings.review.timeout_seconds,
                                 settings.review.retries, settings.review.backoff_seconds, settings.review.max_tokens,
                                 settings.review.token_budget))


def _settings(needs: tuple[str, ...] = (), **overrides: object) -> Settings:
    """The settings, with the command's flags (``group__field=value``; None: not given) over them,
    and the files of the groups the command ``needs`` checked; a problem is one line and exit 2."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None}).require(*needs)
    except ValidationError as exc:  # a settings error is the user's to fix: say it plainly, no traceback
        err.print("[red]invalid settings:[/red]", markup=True)
        for e in exc.errors():
            loc = [str(x) for x in e["loc"]]
            if loc and loc[0] in GROUPS:
                name = f"AFFECTWATCH_{'_'.join(loc[:2]).upper()}" + ("" if len(loc) > 1 else "_*")
            else:
                name = ".".join(loc) or "settings"
            err.print(f"  {name}: {e['msg']}", markup=False, highlight=False)
        raise typer.Exit(2) from exc
    except SettingsError as exc:
        err.print(f"[red]invalid settings:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from exc
    except Exception as exc:  # an unreadable settings file, for example
        err.print(f"[red]invalid settings:[/red] {type(exc).__name__}: {exc}")
        raise typer.Exit(2) from exc


# What each kind of command reads: the groups whose files ``_settings`` checks.
SCORING = ("classifier", "subjects", "dike", "groups")


def _require_kafka(settings: Settings, timeout: float = 5.0) -> None:
    """Fail fast, in one line, when no bootstrap server accepts a connection
    (the clients would otherwise wait about 30 s and end in a long traceback)."""
    import socket

    problems = []
    for server in settings.kafka.bootstrap.split(","):
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
