# Two entry points for a fresh clone: `make demo` (the embedded default) and `make test`.
# Each creates .venv and installs the project on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2

.PHONY: demo test system-packages lint format dry-run clean config-docs

# With the example family from another package (examples/istft-vocoder), which the tests run through
# the whole workflow.
$(BIN)/.installed: pyproject.toml examples/istft-vocoder/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]' -e examples/istft-vocoder
	$(BIN)/python -m vocoder_energy.evaluation.warm_up
	touch $@

demo: $(BIN)/.installed
	$(BIN)/snakemake --cores $(CORES) --resources gpu=1

# Debian packages some tests drive for real (tests/system/packages.txt); a no-op when present.
system-packages:
	@tests/system/install.sh

test: $(BIN)/.installed system-packages
	$(BIN)/python -m pytest -q

dry-run: $(BIN)/.installed
	$(BIN)/snakemake -n

lint: $(BIN)/.installed
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check .

format: $(BIN)/.installed
	$(BIN)/snakefmt .

# config/README.md from the config schema's descriptions (tests/test_docs.py fails while they differ).
config-docs: $(BIN)/.installed
	$(BIN)/python -m vocoder_energy.core.config_docs

clean:
	rm -rf results logs .snakemake
