# fleetops: `make run` starts the three services on embedded SQLite; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROTOS := $(shell find protos -name '*.proto')
GEN_STAMP := gen/.generated

.PHONY: run test test-faults proto lint clean demo bench

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -c 'import pathlib, sysconfig; root = pathlib.Path.cwd(); pathlib.Path(sysconfig.get_paths()["purelib"], "fleetops-generated.pth").write_text(f"{root}/gen\n")'
	touch $(STAMP)

$(GEN_STAMP): $(STAMP) $(PROTOS) protos/build.py
	$(PY) protos/build.py lint
	$(PY) protos/build.py generate
	touch $(GEN_STAMP)

proto: $(GEN_STAMP)

lint: $(STAMP)
	$(PY) protos/build.py lint

run: $(GEN_STAMP)
	$(PY) -m services

test: $(GEN_STAMP)
	$(PY) -m pytest -n 2 --dist loadgroup -m "not faults"

# kill -9 of services and PostgreSQL stopped under traffic: minutes of restarts, so not in `make test`.
# By file: the tests of a module share its private PostgreSQL cluster and services.
test-faults: $(GEN_STAMP)
	$(PY) -m pytest -n 2 --dist loadfile -m faults tests/faults

demo: $(GEN_STAMP)
	$(PY) -m services.cli.demo

bench: $(GEN_STAMP)
	$(PY) bench/run_all.py

clean:
	rm -rf gen var .pytest_cache
