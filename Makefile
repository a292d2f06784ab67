# Two commands on a fresh Debian/Ubuntu machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
MODEL  ?= edge
RUN    ?= runs/$(MODEL)

.PHONY: setup system demo test lint clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[train,dev]'
	touch $@

# The dataset (Debian package when root, else a checked download) and OpenCV's libGL.
system: setup
	scripts/setup-system $(BIN)

demo: system
	$(BIN)/fmnist train --model $(MODEL) --out $(RUN)
	$(BIN)/fmnist evaluate $(RUN)/model.keras
	@echo "plots: $(RUN)/curves.png $(RUN)/confusion.png $(RUN)/samples.png $(RUN)/errors.png"

# pytest exits 5 when it collects no tests: that is a failure here.
test: system
	@$(BIN)/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; exit $$rc

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache *.egg-info
