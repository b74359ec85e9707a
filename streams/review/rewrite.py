"""Example texts for fitting Γ, written by an OpenAI-compatible endpoint
(``affectwatch dike rewrite``): each seed rewritten at every level of a spectrum."""

from __future__ import annotations

from collections.abc import Sequence

from streams.dike.behavior import BehaviorSpectrum
from streams.review.chat import ChatError


def rewrite_prompt(spectrum: BehaviorSpectrum, level: int, seed: str) -> list[dict[str, str]]:
    lv = spectrum.levels[level]
    scale = ", ".join(f"{x.name} ({x.intensity:+.1f})" for x in spectrum.levels)
    return [
        {"role": "system", "content": "You rewrite texts in a requested emotional register, keeping their "
                                      "content. You answer with the rewritten text only."},
        {"role": "user", "content": f"Spectrum '{spectrum.name}': {spectrum.description}\nLevels: {scale}.\n\n"
                                    f"Rewrite the text below at the level '{lv.name}' ({lv.intensity:+.1f}), "
                                    f"keeping what it says.\n\nText:\n{seed}"},
    ]


def rewrite_examples(spectrum: BehaviorSpectrum, seeds: Sequence[str], chat, n: int | None = None
                     ) -> tuple[list[dict], list[dict]]:
    """Asks the endpoint to rewrite each of the first ``n`` seeds at every level;
    returns (examples as {"text", "level", "seed"}, failures with their reason).
    A failed rewrite is reported, never silently dropped."""
    examples, failures = [], []
    for i, seed in enumerate(list(seeds)[:n]):
        for level in range(len(spectrum.levels)):
            chat.reset_budget()
            try:
                text = chat.complete(rewrite_prompt(spectrum, level, seed)).strip().strip('"')
            except ChatError as exc:
                failures.append({"seed": i, "level": spectrum.levels[level].name, "reason": str(exc)})
                continue
            examples.append({"text": text, "level": spectrum.levels[level].name, "seed": i})
    return examples, failures
