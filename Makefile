# Two entry points, each doing all of its own set-up on a fresh machine:
#   make run    create .venv, install, run the default comparison on the embedded default
#   make test   create .venv, install, run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint ci-gate ci-baseline

# The CI regression gate: a short run on the default world (a shorter warm start and budget; its own
# cache and results, so nothing of a user's is reused) checked against reports/baseline-short.json.
GATE_DIR ?= .ci-gate
GATE_RUN := $(BIN)/synpo-bench run --tasks vdc,vatex,nlp:synpo_mc,synpo_gen --losses dpo,simpo,synpo \
	--warm-start-steps 300 \
	--budget steps=20 --run-id gate --out $(GATE_DIR)/results --cache-dir $(GATE_DIR)/cache

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,lora,lmms]'
	touch $(STAMP)

run: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/synpo-bench run

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q
	$(BIN)/ruff check .

lint: $(STAMP)
	$(BIN)/ruff check .

ci-gate: $(STAMP)
	rm -rf $(GATE_DIR)
	HF_HUB_OFFLINE=1 $(GATE_RUN)
	$(BIN)/synpo-bench check $(GATE_DIR)/results/gate --baseline reports/baseline-short.json

ci-baseline: $(STAMP)
	rm -rf $(GATE_DIR)
	HF_HUB_OFFLINE=1 $(GATE_RUN)
	$(BIN)/synpo-bench report $(GATE_DIR)/results/gate --format json --out reports/baseline-short.json
