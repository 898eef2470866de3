# Vigie: `make run` starts everything on this machine, `make test` runs the whole suite.
SHELL := /bin/bash
export UV_LINK_MODE := copy
PY := .venv/bin/python
ROLE ?= integrator

.PHONY: install run stop token test test-unit test-integration lint-imports bench clean

install: ## Install uv, Python dependencies (locked) and the Kafka broker's jars.
	@command -v uv >/dev/null 2>&1 || python3 -m pip install -q uv
	@uv sync --frozen -q
	@$(PY) -m infra.local_kafka fetch

run: install ## Start Kafka and the four services on SQLite; print their URLs.
	@$(PY) -m infra.run start

stop: ## Stop everything `make run` started.
	@$(PY) -m infra.run stop

token: ## Print a bearer token for ROLE (integrator, marketer, reviewer, auditor, admin).
	@$(PY) -m infra.run token $(ROLE)

lint-imports: ## Check the import contracts (no service imports another; domains import no framework).
	@.venv/bin/lint-imports

test: install lint-imports ## Unit, integration and end-to-end tests on a real Kafka and PostgreSQL.
	@$(PY) -m pytest -q -p no:cacheprovider

test-unit: install
	@$(PY) -m pytest -q -m "not integration and not e2e" shared/tests/unit services/*/tests/unit tools/verifier/tests

bench: install ## Run the benchmarks under bench/ (writes bench/results/).
	@$(PY) -m bench.b6_http_write

clean:
	rm -rf .run .pytest_cache
