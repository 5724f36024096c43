# The two entry points of the README: `make example` and `make test`. Both set up .venv first;
# `make test` and `make benchmarks` also set up .venv-party, where IBM's party runtime 24.1 runs (its pins differ).
# `make test` sets up .venv-party-23 too, for IBM's party runtime 23.1 (pins of its own, Python 3.10): the end-to-end
# tests run parties of both runtimes in one training.
# The virtual environments `make test` needs build at once: pip mostly waits on downloads and the disk.
MAKEFLAGS += --jobs=3
VENV ?= .venv
PARTY_VENV ?= .venv-party
PYTHON ?= python3
# IBM's party runtime 24.1 (ibm-watsonx-ai 1.3.39) runs on Python 3.11.
PARTY_PYTHON ?= python3.11
PARTY23_VENV ?= .venv-party-23
# IBM's party runtime 23.1 (ibm-watson-machine-learning) runs on Python 3.10 only: python3.10 on the PATH, else pyenv's.
PARTY23_PYTHON ?= $(or $(shell python3.10 -c '' >/dev/null 2>&1 && echo python3.10),$(lastword $(wildcard $(HOME)/.pyenv/versions/3.10.*/bin/python3.10)),python3.10)
STAMP := $(VENV)/.installed
PARTY_STAMP := $(PARTY_VENV)/.installed
PARTY23_STAMP := $(PARTY23_VENV)/.installed
FLDECL := $(VENV)/bin/fldecl
export FLDECL_PARTY_PYTHON ?= $(abspath $(PARTY_VENV))/bin/python
export FLDECL_PARTY23_PYTHON ?= $(abspath $(PARTY23_VENV))/bin/python

.PHONY: example test benchmarks clean-example

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -c constraints.txt -e '.[local,wml,nvflare,helayers,dev]'
	# An editable install compiles nothing: compile fldecl here, for fast start-ups where PYTHONDONTWRITEBYTECODE is set,
	# and a party's HE kernels (numba caches them beside their module), so that no party compiles them in a round.
	$(VENV)/bin/python -m compileall -q fldecl
	$(VENV)/bin/python -c 'import fldecl.he.codec'
	touch $(STAMP)

$(PARTY_STAMP): pyproject.toml constraints.txt
	$(PARTY_PYTHON) -m venv $(PARTY_VENV)
	$(PARTY_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PARTY_VENV)/bin/python -m pip install --quiet -c constraints.txt -e '.[wml-party,helayers]'
	touch $(PARTY_STAMP)

$(PARTY23_STAMP): pyproject.toml constraints.txt
	$(PARTY23_PYTHON) -m venv $(PARTY23_VENV)
	$(PARTY23_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PARTY23_VENV)/bin/python -m pip install --quiet -c constraints.txt -e '.[wml-party-23,helayers]'
	touch $(PARTY23_STAMP)

## Apply the example stack on the local backend: PKI, data, model, parties, and a real HE training.
example: $(STAMP)
	$(FLDECL) apply manifests/mnist-fhe --auto-approve

## The whole test suite, after the checks of the code's shape: ruff, the layers' import contract, mypy.
test: $(STAMP) $(PARTY_STAMP) $(PARTY23_STAMP)
	$(VENV)/bin/ruff check fldecl tests benchmarks
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m pytest -n 3 --dist loadfile --no-loadscope-reorder

benchmarks: $(STAMP) $(PARTY_STAMP)
	for name in plan_speed local_plan_apply he_levels he_bindings fl_rounds party_failure wml_plan_apply wml_party_rounds nvflare_rounds; do $(VENV)/bin/python benchmarks/$$name.py || exit 1; done

## Remove what `make example` made (keys included).
clean-example: $(STAMP)
	$(FLDECL) destroy manifests/mnist-fhe --auto-approve --delete-files
