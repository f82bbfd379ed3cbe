# enumlab: two commands do everything on a fresh machine.
#   make lab   - set up, start the embedded DNS lab on 127.0.0.1:5353, open JupyterLab
#   make test  - set up, lint, type-check, run the whole suite with the notebooks executed
# Also: make bench (benchmarks/), make setup (set-up only), make serve (the DNS lab alone),
#       make html (every notebook executed and rendered to build/html/, readable without Jupyter).

SHELL := /bin/bash
VENV ?= .venv
LAB_PORT ?= 5353
JUPYTER_PORT ?= 8888
HTML_DIR ?= build/html
NOTEBOOKS ?= $(wildcard notebooks/*.ipynb)
# Jupyter refuses to run as root without --allow-root (CI and lab machines run as root).
JUPYTER_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)
# Inside an active conda environment (see environment.yml) use it; otherwise a local venv.
ifdef CONDA_PREFIX
PY := $(CONDA_PREFIX)/bin/python
STAMP := .conda-installed
else
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
endif

.PHONY: setup system-tools python-deps lab serve test check lint typecheck bench kamailio-check clean html html-only

setup: system-tools python-deps

system-tools:
	@bash .ci/system-tools.sh

python-deps: $(STAMP)
	@# bytecode for enumlab itself (an editable install has none, and PYTHONDONTWRITEBYTECODE
	@# stops Python writing it): `enumlab pcap` on a small file starts in under 0.5 s
	@$(PY) -m compileall -q enumlab

$(STAMP): pyproject.toml
ifndef CONDA_PREFIX
	@test -x $(PY) || python3 -m venv $(VENV)
endif
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

lab: setup
	@echo "enumlab: starting the embedded DNS lab on 127.0.0.1:$(LAB_PORT) (dig @127.0.0.1 -p $(LAB_PORT) ...)"
	@$(PY) -m enumlab.cli serve --port $(LAB_PORT) > .lab-dns.log 2>&1 & echo $$! > .lab-dns.pid; \
	  trap 'kill $$(cat .lab-dns.pid) 2>/dev/null; rm -f .lab-dns.pid' EXIT INT TERM; \
	  sleep 1; cat .lab-dns.log; \
	  kill -0 $$(cat .lab-dns.pid) 2>/dev/null || { echo 'enumlab: the DNS lab did not start (see above); try make lab LAB_PORT=5354' >&2; exit 1; }; \
	  token=$$($(PY) -c 'import secrets; print(secrets.token_hex(16))'); \
	  echo; echo "enumlab: JupyterLab on the repository (notebooks/ and data/ both visible):"; \
	  echo "    open  http://127.0.0.1:$(JUPYTER_PORT)/lab/tree/notebooks?token=$$token"; \
	  echo "    stop  Ctrl-C here (stops JupyterLab and the DNS lab)"; echo; \
	  $(PY) -m jupyterlab --no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port=$(JUPYTER_PORT) \
	    --ServerApp.port_retries=0 --IdentityProvider.token=$$token --ServerApp.root_dir=. \
	    --ServerApp.default_url=/lab/tree/notebooks --ServerApp.answer_yes=True $(JUPYTER_ROOT)

serve: setup
	$(PY) -m enumlab.cli serve --port $(LAB_PORT)

lint: python-deps
	$(PY) -m ruff check enumlab tests benchmarks

typecheck: python-deps
	$(PY) -m mypy enumlab

check: lint typecheck

# The suite runs in a fresh network namespace with loopback only (.ci/isolated.sh): nothing a
# test does can leave this machine; tests make their own namespaces inside it.
test: setup check
	@bash .ci/isolated.sh $(PY) -m pytest --nbmake tests notebooks

bench: setup
	$(PY) benchmarks/run.py

# Every notebook executed (each starts its own lab servers on loopback) and rendered to HTML.
html: setup html-only

html-only:
	@mkdir -p $(HTML_DIR)
	$(PY) -m jupyter nbconvert --to html --execute --ExecutePreprocessor.timeout=600 \
	  --output-dir $(HTML_DIR) $(NOTEBOOKS)
	@echo "enumlab: notebooks rendered to $(HTML_DIR)/"

# Kamailio's enum module vs enumlab, in a network namespace (root): prints the comparison table.
kamailio-check: setup
	$(PY) -m enumlab.lab.kamailio check

clean:
	rm -rf $(VENV) .conda-installed .pytest_cache .mypy_cache .ruff_cache *.egg-info build
