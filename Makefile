# enumlab: two commands do everything on a fresh machine.
#   make lab   - set up, then `enumlab lab .`: the embedded DNS lab on 127.0.0.1:5353 and JupyterLab
#   make test  - set up, lint, type-check, run the whole suite with the notebooks executed
#                (the suite also builds the wheel, sdist and docs site: tests/test_package.py,
#                tests/test_docs.py)
# Also: make bench (benchmarks/), make bench-shapes SCALE=0.05 (the capture shape matrix),
#       make setup (set-up only), make serve (the DNS lab alone),
#       make docs (the documentation site, offline, warnings as errors, to build/docs-html/),
#       make dist (wheel and sdist to dist/),
#       make fuzz (20,000 capture mutants through both engines; shrunk reproducers in build/fuzz/),
#       make html (every notebook executed and rendered to build/html/, readable without Jupyter).

SHELL := /bin/bash
VENV ?= .venv
LAB_PORT ?= 5353
JUPYTER_PORT ?= 8888
HTML_DIR ?= build/html
DOCS_DIR ?= build/docs-html
# the ipywidgets HTML manager the docs site serves itself (widget outputs drawn with no CDN)
WIDGETS_JS := @jupyter-widgets/html-manager@1.0.15
WIDGETS_DIR := build/docs-assets
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

.PHONY: setup system-tools python-deps docs-assets lab serve test check lint typecheck bench bench-shapes fuzz fuzz-zones kamailio-check clean html html-only docs docs-only dist

setup: system-tools python-deps docs-assets

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
	$(PY) -m pip install --quiet -e '.[dev,docs]'
	@touch $@

# `enumlab lab .`: the notebooks and data/ are already here (nothing copied unless it differs:
# then the file is kept and named); DNS lab + JupyterLab on loopback, token, Ctrl-C stops both.
lab: setup
	@$(PY) -m enumlab.cli lab . --dns-port $(LAB_PORT) --jupyter-port $(JUPYTER_PORT)

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

# The capture shape matrix alone (issue 25): SCALE=0.05 runs it at 5 % of the size in minutes
# (a smoke run; the targets are for SCALE=1); the table goes to benchmarks/results/shapes.md.
SCALE ?= 1
bench-shapes: setup
	$(PY) benchmarks/bench_shapes.py --scale $(SCALE)

# Capture mutants (tests/fuzz/): both engines, compiled and interpreted; each distinct failure
# shrunk by delta debugging and written to $(FUZZ_DIR). FUZZ_CAMPAIGN picks another seed.
FUZZ_MUTANTS ?= 20000
FUZZ_CAMPAIGN ?= 1
FUZZ_DIR ?= build/fuzz
fuzz: setup fuzz-zones
	$(PY) -m tests.fuzz.captures --count $(FUZZ_MUTANTS) --campaign $(FUZZ_CAMPAIGN) --out $(FUZZ_DIR)

# Zone-file fuzzing against named-checkzone (tests/zone_fuzz.py; CI runs 300 in make test):
# 3,000 mutants per seed, minimal reproducers of any unexplained verdict in build/fuzz-zones/.
FUZZ_ZONE_MUTANTS ?= 3000
fuzz-zones: setup
	$(PY) -m tests.zone_fuzz --count $(FUZZ_ZONE_MUTANTS) --seed 1 --out build/fuzz-zones
	$(PY) -m tests.zone_fuzz --count $(FUZZ_ZONE_MUTANTS) --seed 2 --out build/fuzz-zones

# Every notebook executed (each starts its own lab servers on loopback) and rendered to HTML,
# readable offline: the widgets' state is stored in each page and drawn by the copy of the
# widget manager in $(HTML_DIR)/widgets/; the template (notebooks/templates/offline) loads no
# require.js, MathJax or mermaid from a CDN.
html: setup html-only

html-only:
	@mkdir -p $(HTML_DIR)
	$(PY) -m jupyter nbconvert --to html --execute --ExecutePreprocessor.timeout=600 \
	  --TemplateExporter.extra_template_basedirs=notebooks/templates --template offline \
	  --HTMLExporter.widget_renderer_url=widgets/embed.js --output-dir $(HTML_DIR) $(NOTEBOOKS)
	@# the widget manager beside the pages (make docs-assets): widgets drawn with no CDN
	@if [ -f $(WIDGETS_DIR)/package/dist/embed.js ]; then mkdir -p $(HTML_DIR)/widgets && \
	  cp -r $(WIDGETS_DIR)/package/dist/. $(HTML_DIR)/widgets/; fi
	@echo "enumlab: notebooks rendered to $(HTML_DIR)/"

# npm fetches the widget manager once (outside the tests' network namespace); docs/conf.py
# copies it into the site.
docs-assets: $(WIDGETS_DIR)/package/dist/embed.js

# Without npm (or its registry) only the docs are affected: a warning, the docs test skips
# (in CI it is an error, as for any missing tool).
$(WIDGETS_DIR)/package/dist/embed.js:
	@mkdir -p $(WIDGETS_DIR)
	@if command -v npm >/dev/null && (cd $(WIDGETS_DIR) && npm pack --silent $(WIDGETS_JS) >/dev/null \
	    && tar xzf jupyter-widgets-html-manager-*.tgz) && test -f $@; then \
	  echo "enumlab: $(WIDGETS_JS) fetched for the docs site"; \
	elif [ "$${CI:-}" = true ]; then \
	  echo "enumlab: could not fetch $(WIDGETS_JS) with npm (needed by make docs)" >&2; exit 1; \
	else \
	  echo "enumlab: WARNING: npm could not fetch $(WIDGETS_JS): make docs will not build" >&2; \
	fi

# The documentation site: notebooks executed once (jupyter-cache in build/jupyter_cache) inside
# a loopback-only namespace, four at a time (they mostly wait on their lab servers: 83 s
# instead of 165 s for the seven on 2 cores), warnings are errors.
docs: setup docs-only

docs-only:
	@bash .ci/isolated.sh $(PY) -m sphinx -j 4 -W --keep-going -q -b html docs $(DOCS_DIR)
	@echo "enumlab: documentation in $(DOCS_DIR)/index.html"

dist: python-deps
	$(PY) -m build --no-isolation --outdir dist .

# Kamailio's enum module vs enumlab, in a network namespace (root): prints the comparison table.
kamailio-check: setup
	$(PY) -m enumlab.lab.kamailio check

clean:
	rm -rf $(VENV) .conda-installed .pytest_cache .mypy_cache .ruff_cache *.egg-info build dist docs/_generated docs/_static/widgets
