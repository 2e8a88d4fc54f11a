# Helpline: `make demo` runs it with demo data, `make test` runs the whole suite.
# Both create .venv with Python 3.11 and install what they need; `make test` also installs
# and starts PostgreSQL and Redis on loopback (scripts/test-services.sh).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint services services-stop bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]' -c constraints.txt
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/helpline demo

services:
	scripts/test-services.sh start

services-stop:
	scripts/test-services.sh stop

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# The servers stay up after the run so the next `make test` starts in seconds.
test: $(STAMP) services
	$(MAKE) lint
	eval "$$(scripts/test-services.sh env)" && $(BIN)/pytest -q $(PYTEST_ARGS)

bench: $(STAMP) services
	eval "$$(scripts/test-services.sh env)" && $(BIN)/python bench/ingest.py --backend both
	eval "$$(scripts/test-services.sh env)" && $(BIN)/python bench/realtime.py
	eval "$$(scripts/test-services.sh env)" && $(BIN)/python bench/webhooks.py
	$(BIN)/python bench/bot.py

clean:
	-scripts/test-services.sh stop
	rm -rf $(VENV) var build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache test-artifacts
