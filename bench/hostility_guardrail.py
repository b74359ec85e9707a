"""How usable the hostility guardrail is: its flag rate on plain opinions (the
demo's 1,400 persona statements: should pass) and on SemEval-2018 EI-oc anger
dev tweets of intensity class 3 (high anger: should be flagged), with the
level distribution of each. Issue 13's bar: at most 5% and at least 60%.

    python bench/hostility_guardrail.py [--artifacts DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models.classifier import ARTIFACTS, Classifier  # noqa: E402
from models.datasets import read_eioc  # noqa: E402
from streams.dike.guardrails import Guardrail  # noqa: E402
from streams.settings import BUNDLED  # noqa: E402


def anger_class3() -> list[str]:
    return [text for text, level in read_eioc("anger", "dev") if level == 3]


def persona() -> list[str]:
    lines = (BUNDLED / "demo" / "responses.jsonl").read_text().splitlines()
    return [json.loads(x)["text"] for x in lines]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--artifacts", type=Path, default=ARTIFACTS)
    ap.add_argument("--spectrum", type=Path, default=BUNDLED / "behavior" / "hostility.yaml")
    args = ap.parse_args()
    clf = Classifier(artifacts=args.artifacts)
    rail = Guardrail.load(args.spectrum)
    for name, texts, want in (("persona statements (should pass)", persona(), "<= 5%"),
                              ("EI-oc anger class 3, dev (should be flagged)", anger_class3(), ">= 60%")):
        judged = rail.judge_many(clf.predict(texts)[0])
        flagged = sum(not j.allowed for j in judged)
        levels = Counter(j.level for j in judged)
        print(f"{name}: {flagged}/{len(texts)} flagged = {flagged / len(texts):.1%} (bar {want}); levels: "
              + ", ".join(f"{lv} {n}" for lv, n in levels.most_common()))


if __name__ == "__main__":
    main()
