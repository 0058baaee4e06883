# Two commands matter on a fresh Debian machine: `make demo` and `make test`.
# Each installs what it needs (virtualenv, pip packages, system packages where missing).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo scenarios test lint typecheck unit bench fuzz clean prosody chromium

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV) || { \
	  echo "python3 -m venv failed; installing python3-venv"; \
	  apt-get update -qq && apt-get install -y -qq python3-venv && $(PY) -m venv $(VENV); }
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: install prosody
	$(BIN)/finesse-emu demo

# Every scenario under finesse_emu/scenarios/, each on a deployment of its own; reports under reports/.
scenarios: install prosody
	$(BIN)/finesse-emu run finesse_emu/scenarios/*.yaml

lint: install
	$(BIN)/ruff check finesse_emu cti_stub awdb_stub ged188 emu_base tests bench fuzz
	$(BIN)/ruff format --check finesse_emu cti_stub awdb_stub ged188 emu_base tests bench fuzz

typecheck: install
	$(BIN)/mypy
	$(BIN)/lint-imports

# Prosody (Debian's package) is the Notification Service the XMPP tests start as a child process.
# Installing it must not leave a system-wide prosody listening on 0.0.0.0:5222/5269: a temporary
# policy-rc.d forbids service starts during the install, and any prosody that started anyway is
# stopped and disabled. Never probe it with `prosody --version` (that starts a server too).
prosody:
	@command -v prosody >/dev/null 2>&1 || { \
	  set -e; sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; made=; \
	  if [ ! -e /usr/sbin/policy-rc.d ]; then \
	    printf '#!/bin/sh\nexit 101\n' | $$sudo tee /usr/sbin/policy-rc.d >/dev/null; \
	    $$sudo chmod 755 /usr/sbin/policy-rc.d; made=1; fi; \
	  trap '[ -z "$$made" ] || $$sudo rm -f /usr/sbin/policy-rc.d' EXIT; \
	  echo "installing prosody (apt)"; \
	  $$sudo apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq prosody >/dev/null; \
	  if [ -d /run/systemd/system ]; then $$sudo systemctl disable --now prosody >/dev/null 2>&1 || true; fi; \
	  if [ -s /run/prosody/prosody.pid ]; then $$sudo kill "$$(cat /run/prosody/prosody.pid)" 2>/dev/null || true; fi; \
	  command -v prosody >/dev/null; }

# Debian's chromium is the real browser the EventTunnel tests drive with Playwright (the pip package
# is only the driver: never `playwright install`). The tests fail, not skip, without it.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  set -e; sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  echo "installing chromium (apt)"; \
	  $$sudo apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq chromium >/dev/null; \
	  command -v chromium >/dev/null; }

# Four pytest runs, all always made; the target fails if any does. First the unit tests (pure,
# CPU-bound) on two workers (pytest-xdist, a module per worker). Then the tests that start real
# processes, as two pytest processes side by side: most of their time is waiting on emulated time,
# so two fill the 2 cores. The split is by module (BESIDE: the CI scenarios, the swarm runs and a few
# launcher modules, each on loopback /24s no module of the other run uses; docs/design.md, "Tests"),
# each run with a TMPDIR of its own; the run beside prints its output when it ends. Last, ALONE:
# the scenarios whose expectations measure the host's own throughput (a node's busiest second),
# with nothing beside them. pytest exit code 5 means "no tests were collected": never let that
# pass as green.
PYTEST := $(BIN)/python -m pytest -q -p no:cacheprovider
BESIDE := tests/e2e/test_scenarios.py tests/e2e/test_desktop_swarm.py tests/e2e/test_chaos_run.py \
          tests/e2e/test_swarm_slices.py tests/e2e/test_launcher_awdb.py tests/e2e/test_launcher_reaping.py \
          tests/e2e/test_cache_guidelines.py tests/e2e/test_slow_network.py tests/e2e/test_report_browser.py
ALONE := reload-coordination
test: lint typecheck prosody chromium
	@$(PYTEST) tests/unit -n 2 --dist loadfile; unit=$$?; \
	beside=$$(mktemp -d); rest=$$(mktemp -d); \
	TMPDIR=$$beside $(PYTEST) $(BESIDE) -k "not $(ALONE)" > $$beside.log 2>&1 & pid=$$!; \
	TMPDIR=$$rest $(PYTEST) tests --ignore=tests/unit $(addprefix --ignore=,$(BESIDE)); others=$$?; \
	wait $$pid; besides=$$?; \
	echo "== pytest $(BESIDE) -k 'not $(ALONE)' (run beside the one above)"; cat $$beside.log; \
	rm -rf $$beside $$beside.log $$rest; \
	$(PYTEST) tests/e2e/test_scenarios.py -k "$(ALONE)"; alone=$$?; status=0; \
	for rc in $$unit $$others $$besides $$alone; do \
	  if [ $$rc -eq 5 ]; then echo "a pytest run collected no tests: failing"; rc=1; fi; \
	  if [ $$rc -ne 0 ]; then status=$$rc; fi; \
	done; exit $$status

bench: install
	$(BIN)/python -m bench

# Every atheris harness under fuzz/ for FUZZ_RUNS runs each: a table of runs, exec/s and crashes;
# crashing inputs land in fuzz/crashes/ and the target fails.
FUZZ_RUNS ?= 200000
fuzz: install
	$(BIN)/python fuzz/run.py --runs $(FUZZ_RUNS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build *.egg-info
