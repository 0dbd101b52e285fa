# Two commands serve a newcomer: `make run` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8080
SIMULATOR_PORT ?= 9100
WORKERS ?= 1
CONFIG ?= configs/demo.yaml
# The gateway's own directory: the private engine's append-only file (spend and budgets survive
# restarts), the settle journal, and gateway.json (how `gateway spend`, `status`... find it).
# One gateway per directory (docs/operations.md); `make clean-data` starts from nothing.
DATA_DIR ?= .gateway/$(basename $(notdir $(CONFIG)))
# The provider simulator runs beside the demo config only (the starter calls real providers).
SIMULATOR ?= $(if $(filter configs/demo.yaml,$(CONFIG)),$(SIMULATOR_PORT))
export SIMULATOR_PORT

.PHONY: install run test check-config clean clean-data docs

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	touch $@

install: $(VENV)/.installed

# The gateway on http://127.0.0.1:$(PORT) with the demo config, its private state engine and the
# provider simulator on $(SIMULATOR_PORT). Ctrl-C stops all three.
run: install
	SIMULATOR_API_KEY=$${SIMULATOR_API_KEY:-sim-local-key} $(VENV)/bin/gateway serve --config $(CONFIG) \
		--port $(PORT) --workers $(WORKERS) $(if $(SIMULATOR),--with-simulator $(SIMULATOR)) --data-dir $(DATA_DIR)

test: install
	$(PY) -m pytest

check-config: install
	$(VENV)/bin/gateway check-config $(CONFIG)

# docs/configuration.md from the config model (tests/test_config_reference.py fails when it is stale).
docs: install
	$(PY) -m gateway.config.reference > docs/configuration.md

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info

# Forget `make run`'s spend, budgets and journal, every config's (refused while a gateway runs there).
clean-data:
	@for lock in .gateway/*/gateway.lock; do [ ! -f "$$lock" ] || flock -n "$$lock" true || \
		{ echo "a gateway is running on $$(dirname $$lock): stop it first"; exit 1; }; done
	rm -rf .gateway

# A local multi-replica cluster: one state engine (REDIS=cluster: a 3-master Redis Cluster), the
# provider simulator, REPLICAS gateway replicas with CLUSTER_WORKERS uvicorn workers each, and nginx
# round-robin on http://127.0.0.1:$(PORT). Nothing is installed: without nginx it stops and prints the
# install command; LB=none prints the replica URLs instead of starting a load balancer.
# `make cluster-down` stops exactly what it started; `$(PY) scripts/cluster.py scale N` rescales.
REPLICAS ?= 3
CLUSTER_WORKERS ?= 2
REDIS ?= single
LB ?= nginx
.PHONY: cluster cluster-down
cluster: install
	SIMULATOR_API_KEY=$${SIMULATOR_API_KEY:-sim-local-key} $(PY) scripts/cluster.py up --replicas $(REPLICAS) \
		--workers $(CLUSTER_WORKERS) --port $(PORT) --redis $(REDIS) --lb $(LB) --config $(CONFIG)

cluster-down:
	$(PY) scripts/cluster.py down

# Benchmarks (docs/benchmarks.md): engine + simulator + gateway pinned with taskset, a table and
# bench-results/<timestamp>.json. BENCH_ARGS passes flags, e.g. make bench BENCH_ARGS="--runs 3".
BENCH_ARGS ?=
.PHONY: bench bench-peers soak

bench: install
	$(PY) -m bench.run $(BENCH_ARGS)

# Same run plus LiteLLM proxy (own venv) and the Portkey gateway (npm) in .bench-venvs/.
bench-peers: install
	$(PY) -m bench.run --peers $(BENCH_ARGS)

# 20 minutes of mixed traffic against 2 workers: RSS per worker at start and end, errors.
soak: install
	$(PY) -m bench.soak $(BENCH_ARGS)
