#!/usr/bin/env bash
# Re-train affect-2 from ../shared/data and affect-1's shipped graph, export it
# into models/affect-2 and regenerate its model card. Needs the `train` extra
# (.venv-train). The fine-tuning takes about 70 minutes on 2 cores; it writes a
# checkpoint every 10 minutes and this script resumes it, so a stopped run is
# continued by running the script again.
set -euo pipefail
cd "$(dirname "$0")/../.."
make train-venv
export HF_HUB_OFFLINE=1 PYTHONPATH="$PWD"
py=.venv-train/bin/python
run=${AFFECT2_RUN:-build/affect2-run}
test -f build/affect1-torch/checkpoint.pt || \
  $py -m models.training.onnx_to_torch --onnx models/artifacts/affect-fp32.onnx --out build/affect1-torch
until test -f "$run/heads.pt"; do
  $py -m models.training.train_affect2 --out "$run" --init build/affect1-torch --epochs 2 --emotion-repeat 2 \
    --go-per-epoch 1000 --lr 2e-5 --head-lr 5e-4 --topic-weight 0 --max-tokens 128 --max-minutes 80 --resume
done
$py -m models.training.topic_head --run "$run" --texts 24576 --epochs 40
$py -m models.training.export_affect2 --trained "$run" --out build/affect-2
$py -m models.training.card_affect2 --artifacts build/affect-2
mkdir -p models/affect-2
cp build/affect-2/affect-int8.onnx build/affect-2/tokenizer.json build/affect-2/meta.json \
   build/affect-2/MODEL_CARD.md models/affect-2/
