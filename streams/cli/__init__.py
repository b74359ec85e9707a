"""The ``affectwatch`` command: a thin shell over the core, one module per command group.

``shell`` holds the Typer app and what the groups share; ``run`` the embedded
commands (score, run, demo); ``kafka`` topics, worker and replay; ``subjects`` the subjects draft; ``dike`` the
DIKE and review commands; ``observe`` the Prometheus report, dashboards and
alert helpers. The CLI may import anything; nothing imports the CLI.
"""

from __future__ import annotations

from importlib import import_module

from streams.cli.shell import app

# Each group registers its commands on import; this order is the order of --help.
for _group in ("run", "kafka", "probe", "subjects", "dike", "observe"):
    import_module(f"streams.cli.{_group}")


def main() -> None:  # console-script entry point
    app()


__all__ = ["app", "main"]
