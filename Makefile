# The two entry points of the README: `make example` and `make test`. Both set up .venv first.
VENV ?= .venv
PYTHON ?= python3
STAMP := $(VENV)/.installed
FLDECL := $(VENV)/bin/fldecl

.PHONY: example test benchmarks clean-example

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -c constraints.txt -e '.[local,wml,dev]'
	touch $(STAMP)

## Apply the example stack on the local backend: PKI, data, model, parties, and a real HE training.
example: $(STAMP)
	$(FLDECL) apply manifests/mnist-fhe --auto-approve

## The whole test suite, after the checks of the code's shape: ruff, the layers' import contract, mypy.
test: $(STAMP)
	$(VENV)/bin/ruff check fldecl tests benchmarks
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m pytest -n 2 --dist loadfile

benchmarks: $(STAMP)
	for name in local_plan_apply he_levels fl_rounds wml_plan_apply; do $(VENV)/bin/python benchmarks/$$name.py || exit 1; done

## Remove what `make example` made (keys included).
clean-example: $(STAMP)
	$(FLDECL) destroy manifests/mnist-fhe --auto-approve --delete-key-files
