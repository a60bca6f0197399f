# adstream — `make help` lists the targets. Everything runs from .venv (created by `make setup`).
SHELL := /bin/bash
VENV  := .venv
ADS   := $(VENV)/bin/adstream
PY    := $(VENV)/bin/python
# Extra pytest arguments, e.g. make test PYTEST_ARGS="-k profile -x"
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help setup up down status demo test test-unit bench clean flink-up flink-down submit

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: ## virtualenv + pinned packages, redis-server, Kafka/Flink jars (idempotent, cached)
	@bash scripts/setup.sh

up: setup ## start the local Kafka broker and Redis (ports from conf/local.yaml)
	@$(ADS) stack up

down: ## stop the local stack (only the processes `make up` started)
	@$(ADS) stack down

status: ## show the local stack and message counts per topic
	@$(ADS) stack status; $(ADS) stack topics

flink-up: setup ## start the local standalone Flink session cluster (docs/cluster.md)
	@$(ADS) flink up

flink-down: ## stop the Flink cluster (only the processes `make flink-up` started)
	@$(ADS) flink down

# The job to submit: profile, scoring or feedback.
JOB ?= profile
submit: ## submit a job to the Flink cluster: make submit JOB=profile|scoring|feedback
	@$(ADS) job $(JOB) --target cluster

demo: up ## end to end on the local stack: generate a synthetic world, replay it, summarise
	@bash scripts/demo.sh

test: setup ## every test tier (unit, contract, flink, integration, e2e, cluster); starts its own stack
	@$(VENV)/bin/pytest $(PYTEST_ARGS)

test-unit: setup ## only the fast tiers (unit + contract), no services
	@$(VENV)/bin/pytest -m "unit or contract" $(PYTEST_ARGS)

bench: setup ## run the benchmarks; figures go to .work/bench/*.json (see docs/benchmarks.md)
	@mkdir -p .work/bench && for b in scripts/bench_*.py; do \
	  n=$$(basename $$b .py); $(PY) $$b --out .work/bench/$$n.json || exit 1; done

drill: setup ## fault drill on its own stack: poison records, broker/Redis/job faults (docs/reliability.md)
	@mkdir -p .work/bench && $(PY) -m scripts.fault_drill --out .work/bench/fault_drill.json

clean: down ## stop the stack and delete runtime state (.work/); keeps .venv and .jars
	@rm -rf .work
