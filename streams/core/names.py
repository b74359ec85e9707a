"""The policy for names that become label values, figure keys and chart text
(``model``, ``steering``, ``group``, ``topic``, ids): bounded length, printable
text that encodes as UTF-8, no surrounding white space."""

from __future__ import annotations

MAX_NAME_CHARS = 128  # model, steering, group, topic, run label
MAX_ID_CHARS = 256  # id, author_id, prompt_id


def name_problem(value: str, max_chars: int = MAX_NAME_CHARS) -> str | None:
    """Why ``value`` is not an acceptable name, or None when it is."""
    if not value:
        return "empty"
    if len(value) > max_chars:
        return f"{len(value)} characters, at most {max_chars}"
    # isprintable() is False for control characters, line breaks, unassigned code
    # points and lone surrogates: none of them may reach a label or a chart.
    if not value.isprintable():
        return "control, unprintable or unpaired surrogate characters"
    if value != value.strip():
        return "leading or trailing white space"
    return None
