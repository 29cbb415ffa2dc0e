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
DEBIAN_PACKAGES := openjdk-17-jre-headless maven clickhouse-server prometheus prometheus-alertmanager chromium chromium-driver

.PHONY: demo test lint typecheck check system-deps python-deps kafka-jars clean bench-detect

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

python-deps: $(BIN)/.installed

system-deps:
	@missing=""; \
	command -v java >/dev/null || missing="$$missing openjdk-17-jre-headless"; \
	command -v mvn >/dev/null || missing="$$missing maven"; \
	command -v clickhouse-server >/dev/null || test -x /usr/sbin/clickhouse-server -o -x /usr/bin/clickhouse || missing="$$missing clickhouse-server"; \
	command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	command -v prometheus-alertmanager >/dev/null || missing="$$missing prometheus-alertmanager"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
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

kafka-jars: python-deps system-deps
	$(BIN)/python -m funnelwatch.localstack.kafka install

demo: python-deps system-deps kafka-jars
	$(BIN)/funnelwatch demo $(ARGS)

# Two pytest workers, a test module each at a time: the end-to-end module (the longest)
# runs on one while the other takes the rest. Each worker starts its own Kafka and
# ClickHouse server. TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2
test: python-deps system-deps kafka-jars
	$(BIN)/python -m pytest -ra -n $(TEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

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

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
