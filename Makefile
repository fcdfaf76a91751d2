# Developer entry points; the real work lives in scripts/.
#   make setup            install host packages, start dockerd, build the base image, create .venv
#   make images           build images/*/Dockerfile -> actors/NAME:latest
#   make test [ARGS=..]   everything above, then pytest (ARGS are passed to pytest)
#   make run  [ARGS=..]   everything above, then `actors dev` (ARGS are passed to it)
#   make bench [ARGS=..]  bench/dispatch.py (python bench/search.py for search, python bench/accept.py for message posts: needs wrk)
#   make clean            remove .venv and caches

SHELL := /bin/bash
VENV  := .venv
ARGS  ?=

.PHONY: all setup images test run bench clean

all: test

setup:
	bash scripts/host-setup.sh

images: setup
	bash scripts/build-images.sh

test:
	bash scripts/test.sh $(ARGS)

run:
	bash scripts/run.sh $(ARGS)

bench: images
	$(VENV)/bin/python bench/dispatch.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .eggs build dist htmlcov .coverage *.egg-info
	find . -path ./.git -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
	find . -path ./.git -prune -o -type f -name '*.py[co]' -exec rm -f {} +
