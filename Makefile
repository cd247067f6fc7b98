# make install  — create .venv and install rnnlab with its test dependencies (torch pinned, CPU build), and
#                 build the native engine's C++ for this CPU
# make demo     — install, then train the demo intent model and replay "what time is it?"
# make test     — install, then lint (ruff) and run the whole test suite once per precision this CPU runs
#                 natively (fp32 everywhere, bf16 too where native), so a bf16-only difference shows up
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NATIVE := $(VENV)/.native-engine

.PHONY: install demo test clean

install: $(STAMP) $(NATIVE)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

# the native engine's C++ (rnnlab/engines/native.cpp), compiled for this CPU; where it cannot be built the
# command says why in one line and the fused engine stands in (installation does not fail)
$(NATIVE): $(STAMP) src/rnnlab/engines/native.cpp
	$(PY) -c "import sys; from rnnlab.engines.native import main; sys.exit(main())"
	touch $(NATIVE)

demo: install
	$(VENV)/bin/rnnlab demo

test: install
	$(VENV)/bin/ruff check src tests benchmarks docs
	for p in $$($(PY) -c "from rnnlab.precision import cpu_native_bf16; print('fp32 bf16' if cpu_native_bf16() else 'fp32')"); do \
		echo "== pytest --precision $$p"; $(PY) -m pytest -q --precision $$p || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
