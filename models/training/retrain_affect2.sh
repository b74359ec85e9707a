#!/usr/bin/env bash
# Re-train affect-2 from ../shared/data, export it into models/affect-2 and
# regenerate its model card. Needs the `train` extra (.venv-train). Two
# fine-tuning stages of about 85 minutes each on 2 cores; each writes a
# checkpoint every 10 minutes and this script resumes it, so a stopped run is
# continued by running the script again.
set -euo pipefail
cd "$(dirname "$0")/../.."
make train-venv
export HF_HUB_OFFLINE=1 PYTHONPATH="$PWD"
py=.venv-train/bin/python
run=${AFFECT2_RUN:-build/affect2-run}
# Stage 1 from the published encoder (topic loss on), stage 2 from stage 1
# (affect only): the recipe of the shipped models/affect-2 (its card lists both).
stage1=${run}-stage1
until test -f "$stage1/heads.pt"; do
  $py -m models.training.train_affect2 --out "$stage1" --epochs 4 --go-per-epoch 4000 --topic-weight 1 \
    --lr 5e-5 --max-tokens 96 --max-minutes 85 --resume
done
until test -f "$run/heads.pt"; do
  $py -m models.training.train_affect2 --out "$run" --init "$stage1" --epochs 2 --emotion-repeat 3 \
    --go-per-epoch 2000 --topic-weight 0 --lr 3e-5 --max-tokens 96 --max-minutes 85 --resume
done
$py -m models.training.topic_head --run "$run" --texts 24576 --epochs 40
$py -m models.training.export_affect2 --trained "$run" --out build/affect-2
$py -m models.training.card_affect2 --artifacts build/affect-2
mkdir -p models/affect-2
cp build/affect-2/affect-int8.onnx build/affect-2/tokenizer.json build/affect-2/meta.json \
   build/affect-2/MODEL_CARD.md models/affect-2/
