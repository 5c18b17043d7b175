# Two commands matter: `make run` (serve with the embedded SQLite default) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: install run test lint typecheck schema schema-check pytest bench clean vendor-assets

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# The embedded default serves without authentication (AUTH_MODE=none, said here explicitly and
# warned about at start-up); with a DATABASE_URL, AUTH_MODE defaults to required.
run: install
	$(if $(DATABASE_URL),,AUTH_MODE=$${AUTH_MODE:-none}) $(BIN)/conversation-service serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy conversation_service tests bench

schema: install
	$(BIN)/conversation-service export-schema > schema.graphql

schema-check: install
	$(BIN)/conversation-service export-schema | diff -u schema.graphql - \
		|| (echo "schema.graphql is stale: run 'make schema'" && exit 1)

pytest: install
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck schema-check pytest

bench: install
	$(BIN)/python -m bench.run $(BENCH_ARGS)

vendor-assets:
	bash scripts/vendor-assets.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache conversations.db*
