# Two commands on a fresh Debian/Ubuntu machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
MODEL  ?= edge
RUN    ?= runs/$(MODEL)

.PHONY: setup system browser pi-fetch bytecode bytecode-done demo model test check bench lint clean

setup: $(VENV)/.installed

# --no-compile: Python compiles each module's bytecode on its first import instead, only for the modules used (a
# fraction of TensorFlow's, Ray's and the test tools'): a fresh install took 49 s instead of 87 s here, and the first
# imports about 8 s more, once. Not when Python may not write bytecode (PYTHONDONTWRITEBYTECODE): every process would
# compile TensorFlow's modules again.
NO_COMPILE := $(if $(PYTHONDONTWRITEBYTECODE),,--no-compile)
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(NO_COMPILE) -e '.[train,dev]'
	touch $@

# The dataset (Debian package when root, else a checked download) and OpenCV's libGL.
system: setup
	scripts/setup-system $(BIN)

# The whole path in minutes: a short `edge` run (DEMO_EPOCHS) and a one-epoch notebook CNN to compare with,
# export with the parity gate, bench against the CNN and the two shipped models, classify the sample photos with
# both shipped models, and one closing screen. The full recipe is `make model`.
DEMO_EPOCHS ?= 4
CNN_RUN     ?= runs/cnn-demo

demo: system
	$(BIN)/fmnist train --model $(MODEL) --epochs $(DEMO_EPOCHS) --out $(RUN)
	$(BIN)/fmnist train --model cnn --epochs 1 --out $(CNN_RUN)
	$(BIN)/fmnist export $(RUN) --int8
	$(BIN)/fmnist export $(CNN_RUN) --no-tflite
	$(BIN)/fmnist bench -m photo -m edge -m $(RUN)/model.int8.onnx -m $(RUN)/model.onnx \
	  -m $(RUN)/model.int8.tflite -m $(CNN_RUN)/model.onnx --threads 1 --batch-size 1 --batch-size 64 --json \
	  > $(RUN)/bench.json
	$(BIN)/fmnist classify examples/photos --save $(RUN)/annotated --json > $(RUN)/photos.jsonl
	$(BIN)/fmnist classify examples/photos --model edge --json > $(RUN)/photos-edge.jsonl
	@$(BIN)/python scripts/demo_summary.py $(RUN) $(CNN_RUN) $(RUN)/bench.json $(RUN)/photos.jsonl \
	  $(RUN)/photos-edge.jsonl

# The shipped models, both from a fixed seed, each with its "not sure" threshold chosen on the validation photos:
# - edge: the 28x28 CNN on Fashion-MNIST and the clothing photos; its ONNX files and its weights (the own-label
#   28x28 tier's backbone) go into the package;
# - photo (the default): EfficientNet-Lite0 at 160 px on Fashion-MNIST written as photos and the clothing photos;
#   only its int8 ONNX goes into the package.
# The photos: FMNIST_PHOTOS (default: the copy `fmnist data fetch photos` makes, fetched when missing).
PHOTOS_HOME := $(or $(KERAS_HOME),$(HOME)/.keras)/datasets/clothing-dataset-small
FMNIST_PHOTOS ?= $(PHOTOS_HOME)/train
FMNIST_PHOTOS_VAL ?= $(patsubst %/train,%/validation,$(FMNIST_PHOTOS))

model: system
	@[ -d "$(FMNIST_PHOTOS)" ] || [ "$(FMNIST_PHOTOS)" != "$(PHOTOS_HOME)/train" ] || $(BIN)/fmnist data fetch photos
	$(BIN)/fmnist train --model edge --seed 0 --photos $(FMNIST_PHOTOS) --photos-val $(FMNIST_PHOTOS_VAL) \
	  --out runs/release
	$(BIN)/fmnist export runs/release --int8 --search --no-tflite
	cp runs/release/model.int8.onnx fmnist/assets/edge.int8.onnx
	cp runs/release/model.onnx fmnist/assets/edge.onnx
	$(BIN)/python -c "from fmnist.core.tf import keras; keras.models.load_model('runs/release/model.keras', \
	  compile=False).save_weights('fmnist/assets/edge.weights.h5')"  # the own-label backbone (fmnist train-own)
	$(BIN)/fmnist train --model photo --seed 0 --photos $(FMNIST_PHOTOS) --photos-val $(FMNIST_PHOTOS_VAL) \
	  --out runs/release-photo
	$(BIN)/fmnist export runs/release-photo --int8 --no-tflite
	cp runs/release-photo/model.int8.onnx fmnist/assets/photo.int8.onnx
	$(BIN)/fmnist info --model edge
	$(BIN)/fmnist info --model photo
	$(BIN)/fmnist evaluate --model edge --photos $(FMNIST_PHOTOS_VAL)
	$(BIN)/fmnist evaluate --model photo --photos $(FMNIST_PHOTOS_VAL)

# pytest-benchmark on runs/edge's exports (FMNIST_BENCH_RUN to change): saves each run under .benchmarks/
# and compares it with the previous one.
bench: system
	@prev=$$(ls .benchmarks/*/*.json 2>/dev/null | tail -n 1); \
	$(BIN)/python -m pytest benchmarks --benchmark-autosave --benchmark-columns=min,median,iqr,rounds \
	  --benchmark-sort=name $${prev:+--benchmark-compare}

# The suite on every core (pytest-xdist). make test starts one worker more than cores: its workers wait on a
# subprocess, pip, a browser or a server often enough that with one a core, the cores sat idle 12 % of the run here
# (vmstat); with one more, 2 %, and the suite took 9 % less time for the same CPU. make check, its tests of a second
# or more left to make test, takes one more worker too (27.2-28.7 s against 30.3-33.0 s with one a core). Tests
# that build the fmnist wheel in the source tree share one worker.
# pytest exits 5 when it collects no tests: that is a failure here.
# nproc without the OpenMP variables it obeys (an ML shell's OMP_NUM_THREADS=1 is no core count); at most
# MAX_WORKERS, as each worker may load TensorFlow.
CORES := $(shell env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc 2>/dev/null || echo 1)
MAX_WORKERS := 8
at_most = $(shell echo $$(( $(1) < $(MAX_WORKERS) ? $(1) : $(MAX_WORKERS) )))
PYTEST = $(BIN)/python -m pytest -n $(or $(WORKERS),$(CORES)) --dist loadgroup
define pytest_strict
	@$(PYTEST) $(1); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; exit $$rc
endef

# Debian's chromium, for the preview page's browser test (make test only: the demo needs no browser).
browser:
	scripts/setup-browser

# As root, the Pi smoke test's downloads (scripts/pi-smoke --fetch: qemu, an arm64 sysroot, aarch64 wheels; about 16 s
# of one core here) start in the background as soon as the venv exists (they need its onnxruntime version), so that
# on a fresh machine they overlap the browser's install and the first tests rather than the busiest minutes of the
# suite; the test waits for them.
pi-fetch: setup
	@if [ "$$(id -u)" -eq 0 ]; then mkdir -p test-artifacts; \
	  scripts/pi-smoke --fetch > test-artifacts/pi-smoke-fetch.log 2>&1 & fi

# Bytecode, once an install: setup installs with --no-compile, so each module is compiled on its first import, and
# make test's workers, starting together, would each compile the same ones (what the tests import, then
# TensorFlow's). Collecting the suite took 8 s and 11 s of CPU that way here, against 3 s and 6 s with the bytecode
# in place. So the modules are compiled once, in the background while the browser installs; pytest starts once
# that pass ends (bytecode-done), or its workers would compile what it has not reached yet, as it does.
bytecode: setup
	@if [ -z "$$PYTHONDONTWRITEBYTECODE" ] && [ ! $(VENV)/.bytecode -nt $(VENV)/.installed ]; then \
	  { $(BIN)/python -m pytest --collect-only -q -p no:cacheprovider tests && \
	    $(BIN)/python -c "import fmnist.core.tf, tf2onnx" && touch $(VENV)/.bytecode; } \
	  > /dev/null 2>&1 & echo $$! > $(VENV)/.bytecode.pid; else rm -f $(VENV)/.bytecode.pid; fi

# At most 5 minutes, and only while that pid is still this pass (an earlier run's file may name another process).
bytecode-done: bytecode
	@if [ -f $(VENV)/.bytecode.pid ]; then pid=$$(cat $(VENV)/.bytecode.pid); rm -f $(VENV)/.bytecode.pid; n=0; \
	  while [ $$n -lt 1500 ] && grep -qs bytecode /proc/$$pid/cmdline; do sleep 0.2; n=$$((n + 1)); done; fi

test: WORKERS ?= $(call at_most,$(CORES) + 1)
test: pi-fetch bytecode system browser bytecode-done
	rm -rf test-artifacts/bench-cnn  # the tests' copy of their CNN, for the pass over benchmarks/: this run's or none
	$(call pytest_strict,)
	@# once, unmeasured, so the suite cannot rot; on a copy of the CNN the tests exported (tests/exported.py)
	FMNIST_BENCH_RUN="$${FMNIST_BENCH_RUN:-test-artifacts/bench-cnn}" \
	  $(BIN)/python -m pytest benchmarks --benchmark-disable -q

# The inner loop, before each commit: ruff, then every test not marked slow, the property tests on a quarter of
# their examples (tests/conftest.py's Hypothesis profiles). One worker more than cores, as make test: with one a
# core, a fifth of the cores' time was idle while tests waited on a server's timeout or a subprocess (54 s of CPU in
# 33.8 s on 2 cores here); pytest took 26.3-26.4 s against 26.9-27.4 s (two runs each, alternated).
check: WORKERS ?= $(call at_most,$(CORES) + 1)
check: export HYPOTHESIS_PROFILE = dev
check: system
	$(BIN)/ruff check .
	$(call pytest_strict,-q -m "not slow")

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache *.egg-info
