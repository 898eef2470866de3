# Vigie: `make run` starts everything on this machine, `make test` runs the whole suite.
SHELL := /bin/bash
export UV_LINK_MODE := copy
PY := .venv/bin/python
ROLE ?= integrator

.PHONY: install run stop token demo test test-unit lint lint-imports bench asyncapi facts rules-doc clean

install: ## Install uv, Python dependencies (locked) and the Kafka broker's jars.
	@command -v uv >/dev/null 2>&1 || python3 -m pip install -q uv
	@uv sync --frozen -q
	@$(PY) -m infra.local_kafka fetch

run: install ## Start Kafka and the four services on SQLite; print their URLs.
	@$(PY) -m infra.run start

stop: ## Stop everything `make run` started.
	@$(PY) -m infra.run stop

token: ## Print a bearer token for ROLE: one or several of integrator, marketer, reviewer, auditor, admin ("admin auditor" for the DPO).
	@$(PY) -m infra.run token $(ROLE)

demo: ## On a running `make run`: load ~1,000 people, consents, objections, a request and campaigns through the APIs; check them, verify a receipt and a proof bundle.
	@$(PY) -m infra.demo

lint-imports: ## Check the import contracts (no service imports another; domains import no framework).
	@.venv/bin/lint-imports

MYPY_PACKAGES := -p shared -p contacts -p consent -p campaign_gate -p audit_log -p vigie_verify -p console
MYPY_STRICT := -p shared -p contacts.domain -p consent.domain -p campaign_gate.domain -p audit_log.domain -p console.domain

lint: install lint-imports ## ruff (lint and format check) and mypy: every package, strict on the domains and shared/.
	@.venv/bin/ruff check -q .
	@.venv/bin/ruff format --check -q .
	@.venv/bin/mypy $(MYPY_PACKAGES)
	@.venv/bin/mypy --strict $(MYPY_STRICT)

test: install lint ## Lint and types, then unit, integration and end-to-end tests on a real Kafka and PostgreSQL.
	@$(PY) -m pytest -q -p no:cacheprovider

test-unit: install
	@$(PY) -m pytest -q -m "not integration and not e2e" shared/tests/unit services/*/tests/unit tools/verifier/tests

BENCHES := b1_gate_bulk b1s_served_check b2_withdrawal_to_refusal b3_audit_append b4_proofs b5_verify b6_http_write b_contacts_import b7_projection_ingest b_receipt_chunks

bench: install ## Run every benchmark under bench/, each against its same-run baseline (writes bench/results/).
	@for b in $(BENCHES); do echo "== $$b"; $(PY) -m bench.$$b || exit 1; done

asyncapi: ## Regenerate docs/asyncapi.yaml from the services' published event types.
	@$(PY) -m infra.asyncapi

facts: ## Regenerate docs/facts.md: where each fact the gate's rules read comes from, and which rules read it.
	@$(PY) -m infra.facts

rules-doc: ## Regenerate docs/rules.md: the rule book, one row per row of campaign-gate's rule table.
	@$(PY) -m infra.rules_doc

clean:
	rm -rf .run .pytest_cache
