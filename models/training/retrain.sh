#!/usr/bin/env bash
# Re-train both variants from ../shared/data, export the better one into
# models/artifacts and regenerate the model card. Needs the `train` extra
# (PyTorch: a large download) in its own environment, .venv-train.
# About 100 minutes on 2 cores, most of it fine-tuning.
set -euo pipefail
cd "$(dirname "$0")/../.."
make train-venv
export HF_HUB_OFFLINE=1 PYTHONPATH="$PWD"
py=.venv-train/bin/python
$py -m models.training.train --out build/frozen --freeze-encoder
$py -m models.training.train --out build/finetuned --epochs 5
$py -m models.training.export --trained build/frozen --out build/artifacts-frozen
$py -m models.training.export --trained build/finetuned --out build/artifacts-finetuned
$py -m models.training.select_and_card build/artifacts-frozen build/artifacts-finetuned --out models/artifacts
