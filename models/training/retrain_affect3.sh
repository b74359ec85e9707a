#!/usr/bin/env bash
# affect-3, stage by stage (issue 30); each stage resumes a stopped run when run again.
# Needs the `train` extra (.venv-train). Stage 1, the teacher, is the one built so far:
# MPNet-12 (all-mpnet-base-v2, fetched from PyPI and sha256-checked by models.training.encoders)
# fine-tuned on the moral task alone, then measured on moral dev against affect-2
# (models.training.evaluate_affect2) before anything is distilled from it.
set -euo pipefail
cd "$(dirname "$0")/../.."
make train-venv
export HF_HUB_OFFLINE=1 PYTHONPATH="$PWD"
py=.venv-train/bin/python
run=${AFFECT3_RUN:-$HOME/.cache/affectwatch/affect3}
$py -m models.training.encoders mpnet
teacher=$run/teacher-mpnet-moral
until test -f "$teacher/heads.pt"; do
  $py -m models.training.train_affect2 --out "$teacher" --encoder mpnet --epochs 1 --emotion-repeat 0 \
    --go-per-epoch 0 --topic-weight 0 --max-tokens 128 --bucket 50 --layer-decay 0.9 --lr 5e-5 \
    --max-minutes 85 --save-every 10 --resume
done
test -s "$teacher/dev.json" || $py -m models.training.evaluate_affect2 --trained "$teacher" > "$teacher/dev.json"
# Measured 2026-12-07 after its one epoch: moral dev macro-F1 0.394 fp32, against affect-2's 0.560;
# affect-2 had 4 + 2 epochs. Stage 1b gives the teacher two more epochs from those weights (a new
# schedule), then measures it again. Nothing is distilled until a teacher beats 0.560 by 5 points.
longer=$run/teacher-mpnet-moral-3ep
until test -f "$longer/heads.pt"; do
  $py -m models.training.train_affect2 --out "$longer" --init "$teacher" --encoder mpnet --epochs 2 \
    --emotion-repeat 0 --go-per-epoch 0 --topic-weight 0 --max-tokens 128 --bucket 50 --layer-decay 0.9 \
    --lr 5e-5 --max-minutes 85 --save-every 10 --resume
done
$py -m models.training.evaluate_affect2 --trained "$longer" > "$longer/dev.json"
cat "$teacher/dev.json" "$longer/dev.json"
