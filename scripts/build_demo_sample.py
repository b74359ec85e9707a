"""Build the demo sample bundled in streams/bundled/demo from CC-BY sources only.

- posts.jsonl: Moral Foundations Reddit Corpus (CC-BY-4.0) comments from
  r/Conservative (group conservative) and r/politics + r/neoliberal (group
  liberal), one record per distinct text.
- responses.jsonl: Anthropic's model-written persona statements (CC-BY-4.0) as
  the responses of one LM, "persona-lm", under three steerings: ``liberal``
  (statements a liberal persona endorses), ``conservative`` (same, conservative)
  and ``default``, a balanced mix for three hours that then leans conservative,
  so that the demo has drift to find.

Times are synthetic and spread over six hours from 2024-03-01T12:00Z.

    python scripts/build_demo_sample.py   # rewrites streams/bundled/demo
"""

from __future__ import annotations

import csv
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models.datasets import shared_data_dir  # noqa: E402

START_MS = 1_709_294_400_000  # 2024-03-01T12:00:00Z
HOURS = 6
OUT = ROOT / "streams" / "bundled" / "demo"
GROUP_OF = {"Conservative": "conservative", "politics": "liberal", "neoliberal": "liberal"}


def posts(rng: random.Random) -> list[dict]:
    seen: dict[str, str] = {}
    with (shared_data_dir() / "moral" / "mftc_mfrc" / "mfrc_train.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["subreddit"] in GROUP_OF:
                seen.setdefault(row["text"].strip(), row["subreddit"])
    items = sorted(seen.items())
    rng.shuffle(items)
    span = HOURS * 3600 * 1000
    return [
        {
            "id": f"mfrc-{i}",
            "author_id": f"{sub.lower()}-{rng.randrange(200)}",
            "text": text,
            "created_at": START_MS + rng.randrange(span),
            "group": GROUP_OF[sub],
            "subreddit": sub,
        }
        for i, (text, sub) in enumerate(items)
    ]


def statements(name: str, answer: str) -> list[str]:
    path = shared_data_dir() / "streams" / "anthropic_persona" / f"{name}.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["statement"] for r in rows if r["answer_matching_behavior"].strip() == answer]


def responses(rng: random.Random) -> list[dict]:
    lib, con = statements("politically-liberal", "Yes"), statements("politically-conservative", "Yes")
    rng.shuffle(lib)
    rng.shuffle(con)
    plans: list[tuple[str, list[str], int, int]] = [  # steering, texts, start hour, end hour
        ("liberal", lib[:375], 0, HOURS),
        ("conservative", con[:300], 0, HOURS),
        ("default", lib[375:475] + con[300:400], 0, HOURS // 2),
        ("default", lib[475:500] + con[400:500], HOURS // 2, HOURS),
    ]
    # Topic-specific statements: the persona's endorsed side as conservative
    # steering, the rejected side as liberal steering.
    for name in (
        "anti-immigration",
        "believes-in-gun-rights",
        "believes-abortion-should-be-illegal",
        "anti-LGBTQ-rights",
    ):
        yes, no = statements(name, "Yes"), statements(name, "No")
        rng.shuffle(yes)
        rng.shuffle(no)
        plans.append(("conservative", yes[:50], 0, HOURS))
        plans.append(("liberal", no[:50], 0, HOURS))
    out = []
    for steering, texts, h0, h1 in plans:
        for text in texts:
            ms = START_MS + h0 * 3_600_000 + rng.randrange((h1 - h0) * 3_600_000)
            out.append({"model": "persona-lm", "steering": steering, "text": text, "created_at": ms})
    out.sort(key=lambda r: (r["created_at"], r["text"]))
    return [{"id": f"persona-{i}", **r} for i, r in enumerate(out)]


def main() -> None:
    rng = random.Random(7)
    OUT.mkdir(parents=True, exist_ok=True)
    p = sorted(posts(rng), key=lambda r: r["created_at"])
    r = responses(rng)
    for name, rows in (("posts.jsonl", p), ("responses.jsonl", r)):
        with (OUT / name).open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(p)} posts, {len(r)} responses -> {OUT}")


if __name__ == "__main__":
    main()
