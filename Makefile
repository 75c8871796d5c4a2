# Two entry points (see README.md):
#   make book   execute every chapter (PROFILE=smoke|default|paper) and build the static site in _build/html
#   make test   run the test suite
# Both create .venv on first use and reinstall only when pyproject.toml changed (stamp file).

PYTHON  ?= python3
PROFILE ?= default
DEVICE  ?= auto
VENV    := .venv
PY      := $(VENV)/bin/python
# Touched after a successful install; newer than pyproject.toml means nothing to do.
STAMP   := $(VENV)/.installed-book-test

# Python keeps each module's bytecode (in .venv and __pycache__/) the first time a command here imports it. Where
# PYTHONDONTWRITEBYTECODE is set (as on the machines this book is developed on) it would keep none: every process,
# each chapter's kernel and sweep worker included, compiled its imports again (`import emergence_lib` took 12 s
# instead of 5). Set to nothing, Python treats it as unset, for the commands make runs.
export PYTHONDONTWRITEBYTECODE :=

.PHONY: book execute test bench venv clean help
.DEFAULT_GOAL := help

help:
	@echo "make book  [PROFILE=smoke|default|paper] [DEVICE=cpu|cuda|auto]  execute chapters, build _build/html"
	@echo "make test                                                       run the tests (pytest)"
	@echo "make bench [BENCH_ARGS=--quick]                                 every benchmark; one table in benchmarks/results.md"
	@echo "make clean                                                      remove _build/"
	@echo "make student                                                    chapters without solutions, in _build/student/"

$(PY):
	$(PYTHON) -m venv $(VENV)

# --no-compile: pip would byte-compile every installed module (torch's thousands) up front, about 40% of the
# install's time; Python compiles the few a run imports on first use, and keeps them (see above).
$(STAMP): pyproject.toml | $(PY)
	@echo "installing emergence_lib with its book and test extras into $(VENV) (the first time takes minutes)"
	$(PY) -m pip install --quiet --no-compile -e '.[book,test]'
	touch $@

venv: $(STAMP)

# `build` executes the chapters with papermill into _build/executed/$(PROFILE)/, then runs jupyter-book
# on that folder with execution off and warnings as errors.
book: $(STAMP)
	$(PY) -m emergence_lib.book build --profile $(PROFILE) --device $(DEVICE)

execute: $(STAMP)
	$(PY) -m emergence_lib.book execute --profile $(PROFILE) --device $(DEVICE)

# pytest exits with 5 when it collects no tests; make treats any non-zero status as failure. Two pytest-xdist workers
# of one thread each, one test file at a time each, the two files that execute every chapter first (tests/conftest.py):
# in one process, the second core worked only while chapters executed (pytest took 8:04 on 2 cores, 6:10 with two
# workers). TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

# Every benchmark in turn (one PyTorch job at a time), then one table of their figures against the targets:
# benchmarks/results.md and results.json (--quick: smoke runs, written to _build/bench/). The `bench` extra holds
# the reference tools (loss-landscapes, PyHessian).
BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): pyproject.toml | $(STAMP)
	$(PY) -m pip install --quiet --no-compile -e '.[book,test,bench]'
	touch $@

bench: $(STAMP) $(BENCH_STAMP)
	$(PY) benchmarks/run_all.py $(BENCH_ARGS)

clean:
	rm -rf _build

# Notebooks to hand out: the chapters without the cells tagged `solution` and without outputs, in _build/student/.
.PHONY: student
student: $(STAMP)
	$(PY) -m emergence_lib.book student
