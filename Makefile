# The two commands of the README:
#   make demo   installs what is missing and runs the live demo (embedded ClickHouse)
#   make test   installs what is missing and runs unit, integration and end-to-end tests
# Everything they need is installed here: Python packages into .venv, Debian packages
# with apt-get (as root), Kafka's jars from Maven Central into ~/.cache/funnelwatch.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=
PYTEST_ARGS ?=
# command=package pairs: a package is installed when its command is missing. The demo
# needs Java and Maven (Kafka); the tests also need the servers and the browser.
DEMO_PACKAGES := java=openjdk-17-jre-headless mvn=maven
TEST_PACKAGES := $(DEMO_PACKAGES) clickhouse-server=clickhouse-server \
	prometheus=prometheus prometheus-alertmanager=prometheus-alertmanager \
	chromium=chromium chromedriver=chromium-driver

.PHONY: demo test lint typecheck check system-deps python-deps kafka-jars clean bench-detect \
	bench-throughput e2e-million

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

python-deps: $(BIN)/.installed

# Installs the Debian packages of $(PACKAGES) whose command is missing (apt-get, as root).
system-deps:
	@missing=""; \
	for pair in $(PACKAGES); do \
	  command -v "$${pair%%=*}" >/dev/null || test -x "/usr/sbin/$${pair%%=*}" || missing="$$missing $${pair#*=}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  norc=""; \
	  if [ ! -e /usr/sbin/policy-rc.d ]; then \
	    printf '#!/bin/sh\n# funnelwatch: no service starts while installing\nexit 101\n' > /usr/sbin/policy-rc.d; \
	    chmod +x /usr/sbin/policy-rc.d; norc=1; \
	  fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; rc=$$?; \
	  if [ -n "$$norc" ]; then rm -f /usr/sbin/policy-rc.d; fi; \
	  exit $$rc; \
	fi

kafka-jars: python-deps
	$(MAKE) --no-print-directory system-deps PACKAGES="$(DEMO_PACKAGES)"
	$(BIN)/python -m funnelwatch.localstack.kafka install

demo: python-deps kafka-jars
	$(BIN)/funnelwatch demo $(ARGS)

# Two pytest workers, a test module each at a time: the end-to-end module (the longest)
# runs on one while the other takes the rest. Each worker starts its own Kafka and
# ClickHouse server. TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2
test: python-deps kafka-jars
	$(MAKE) --no-print-directory system-deps PACKAGES="$(TEST_PACKAGES)"
	$(BIN)/python -m pytest -ra -n $(TEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

# The exactness invariant on 1,000,000 records (the clean chDB variant of the e2e test;
# not part of `make test`: about 5 minutes here).
e2e-million: python-deps kafka-jars
	$(MAKE) --no-print-directory system-deps PACKAGES="$(TEST_PACKAGES)"
	FUNNELWATCH_E2E_EVENTS=1000000 $(BIN)/python -m pytest -ra -p no:cacheprovider \
		"tests/e2e/test_pipeline_exact.py::test_kpis_in_clickhouse_equal_the_oracle_after_drain[chdb-clean]"

lint: python-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

typecheck: python-deps
	$(BIN)/mypy

check: lint typecheck test

# Detection benchmark (not part of `make test`): simulated scenarios straight into the
# detectors, a few minutes on one core; ARGS e.g. "--seeds 5 --only form_broken".
bench-detect: python-deps
	$(BIN)/python -m benchmarks.detect $(ARGS)

# Throughput benchmark (not part of `make test`, a script, not a timed test): a backlog of
# 1,000,000 simulated records (cached in ~/.cache/funnelwatch/bench) drained through the
# real worker on chDB, on the ClickHouse server and with two workers, beside a plain
# aiokafka reference loop, then the latency at a steady 5,000 events/s; it starts its own
# Kafka and ClickHouse server. Takes a while; ARGS e.g. "--records 100000 --skip-latency",
# "--kafka 127.0.0.1:9092 --clickhouse-url clickhouse://default@127.0.0.1:9000/default".
bench-throughput: python-deps kafka-jars
	$(MAKE) --no-print-directory system-deps PACKAGES="$(DEMO_PACKAGES) clickhouse-server=clickhouse-server"
	$(BIN)/python -m benchmarks.throughput $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
