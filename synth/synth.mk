# synth/synth.mk -- included by the top Makefile.
# `make synth-report [LIBERTY=path] [CLOCK_MHZ=F] [SYNTHARGS=...]`: Yosys (pyosys) + OpenSTA
# area/timing/power of every elementwise unit -> $(BUILD)/synth/report.{json,md}, area.png
# Uses $(PY), $(STAMP), $(BUILD) and the apt_need macro of the top Makefile.

SYNTH_LIBERTY_DEFAULT := /usr/share/qflow/tech/osu018/osu018_stdcells.lib
SYNTH_LIBERTY_PKG     := qflow-tech-osu018

.PHONY: synth-report synth-tools

synth-tools: $(STAMP)
	$(call apt_need,sta,opensta)
	@# the default liberty is a file, not a command: check the file itself
	@if [ -z "$$LIBERTY" ] && [ ! -f $(SYNTH_LIBERTY_DEFAULT) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian package $(SYNTH_LIBERTY_PKG) (for $(SYNTH_LIBERTY_DEFAULT))"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYNTH_LIBERTY_PKG) >/dev/null; } \
	      || { echo "error: apt-get install $(SYNTH_LIBERTY_PKG) failed" >&2; exit 2; }; \
	  else echo "error: $(SYNTH_LIBERTY_DEFAULT) not found; install it with: sudo apt-get install $(SYNTH_LIBERTY_PKG) (or pass LIBERTY=path)" >&2; exit 2; fi; \
	fi
	@if [ -n "$$LIBERTY" ] && [ ! -f "$$LIBERTY" ]; then \
	  echo "error: LIBERTY=$$LIBERTY does not exist" >&2; exit 2; fi

synth-report: $(STAMP) synth-tools
	@set -f; $(GQA) synth --build "$${BUILD:-build}" $${LIBERTY:+--liberty "$$LIBERTY"} --jobs "$${JOBS:-2}" \
	  $${CLOCK_MHZ:+--clock-mhz "$$CLOCK_MHZ"} $$SYNTHARGS
