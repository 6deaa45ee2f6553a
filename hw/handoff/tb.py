"""Self-checking testbenches of the handoff package, in plain Verilog-2005.

One module ``tb_<top>`` per unit, no ports. It reads its vectors with
``$readmemh`` (paths: parameter ``VECDIR``, default ``tb/``, and for
``LUT=regs`` units ``PROGDIR``, default ``prog/``, both relative to the
directory the simulator runs in; the package's FuseSoC core copies the files
to those paths in FuseSoC's work directory with ``copyto``, so the defaults
hold there too), drives the unit at full rate, checks every
output and its timing, prints ``PASS <n> vectors`` or the first mismatches
and ``FAIL <count> mismatches in <n> vectors``, and then ends with
``$finish`` (pass) or ``$fatal`` (fail, non-zero exit status). With
``FINISH=0`` it only raises ``done`` so that a larger bench can embed it.

A bench cannot pass on nothing: before reading a vector file it opens it
and counts its words (``$fgetc``; ``//`` comments and white space skipped,
any other character refused), and a file that cannot be opened, holds
anything but hex words, or holds more or fewer words than the bench expects
(the counts are written into the bench) ends the run with ``FAIL ...`` and
``$fatal`` before any vector is driven. At the end the number of outputs
compared must equal the expected count (``EXPECTED``), else the run fails.

Only IEEE 1364-2005 constructs plus ``$fatal`` (the one portable way to end
with a non-zero status) are used: no simulator-specific system tasks.
Inputs change at the falling clock edge or through non-blocking updates at
the rising edge, and outputs are sampled at the rising edge, so the bench is
free of races in any event-driven or cycle-based simulator.
"""

from __future__ import annotations

PERIOD = 10          # ns; the clock toggles every PERIOD/2


#: the run commands written into the bench's header (set by the package writer)
RUN_COMMANDS = {"icarus": "sh run_tb.sh icarus", "verilator": "sh run_tb.sh verilator"}
_FUSESOC_DEFAULT = "fusesoc --cores-root . run --target sim <the VLNV in the .core file>"


def _sub(text: str, values: dict) -> str:
    values = {**values, "CMD_ICARUS": RUN_COMMANDS["icarus"], "CMD_VERILATOR": RUN_COMMANDS["verilator"],
              "CMD_FUSESOC": RUN_COMMANDS.get("fusesoc", _FUSESOC_DEFAULT)}
    for k, v in values.items():
        text = text.replace(f"@{k}@", str(v))
    if "@" in text.replace("@(", "").replace("@ (", ""):
        raise ValueError("unreplaced placeholder in the testbench template")
    return text


_HEAD = """\
// tb_@TOP@: self-checking testbench of @TOP@ (GQA-LUT handoff package).
// Plain Verilog-2005 (plus $fatal for a non-zero exit status). Run it from the package
// directory, which holds the vectors (see DATASHEET.md):
//   with Icarus:    @CMD_ICARUS@
//   with Verilator: @CMD_VERILATOR@
//   with FuseSoC:   @CMD_FUSESOC@
//                   (the core copies the vector files to tb/ and prog/ of FuseSoC's work directory)
// No `timescale (like the RTL): delays are in the simulator's default time unit.
// Prints "PASS <n> vectors", or the first mismatches and "FAIL <count> mismatches in <n> vectors"
// and then stops with $fatal (exit status non-zero).
module tb_@TOP@;
  parameter VECDIR = "tb/";        // directory of the vector files, relative to the run directory
  parameter PROGDIR = "prog/";     // directory of the programming image (LUT=regs units)
  parameter FINISH = 1;            // 0: do not call $finish on a pass, only raise `done`
  parameter MAX_REPORTED = 10;     // mismatches printed in full
  localparam TIMEOUT_CYCLES = @TIMEOUT@;
  localparam EXPECTED = @EXPECTED@;     // outputs the bench must compare (the PASS count)

  reg clk = 1'b0;
  reg rst = 1'b1;
  reg done = 1'b0;
  integer errors = 0;              // mismatches
  integer checked = 0;             // output vectors compared
  integer cycles = 0;

  always #@HALF@ clk = ~clk;
  always @(posedge clk) cycles <= cycles + 1;

  // ---- vector files: each must open and hold exactly the expected number of words ---------
  integer file_errors = 0;
  reg [8*1024-1:0] fname;          // a vector file's path ($sformat: no width mismatch in any tool)
  task count_words;                // hex words in a $readmemh file: -1 cannot open, -2 not hex words
    input [8*1024-1:0] name;
    output integer n;
    integer fd, c, in_word, in_comment, bad;
    begin
      n = 0;
      fd = $fopen(name, "r");
      if (fd == 0) n = -1;
      else begin
        in_word = 0;
        in_comment = 0;
        bad = 0;
        c = $fgetc(fd);
        while (c != -1 && bad == 0) begin
          if (in_comment != 0) begin
            if (c == 10) in_comment = 0;
          end else if (c == 47) begin                      // '/': only a "//" comment may start here
            c = $fgetc(fd);
            if (c == 47) in_comment = 1;
            else bad = 1;
            in_word = 0;
          end else if ((c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102)
                       || (c == 95 && in_word != 0)) begin // 0-9 A-F a-f, '_' inside a word
            if (in_word == 0) n = n + 1;
            in_word = 1;
          end else if (c == 32 || (c >= 9 && c <= 13)) in_word = 0;
          else bad = 1;
          if (bad == 0) c = $fgetc(fd);
        end
        $fclose(fd);
        if (bad != 0) n = -2;
      end
    end
  endtask

  task check_file;
    input [8*1024-1:0] name;
    input integer want;
    integer n;
    begin
      count_words(name, n);
      if (n != want) begin
        file_errors = file_errors + 1;
        if (n == -1) $display("FAIL vector file %0s: cannot be opened (missing or unreadable)", name);
        else if (n == -2) $display("FAIL vector file %0s: not a file of hex words", name);
        else $display("FAIL vector file %0s: %0d words, expected %0d", name, n, want);
      end
    end
  endtask

  task files_ok;                   // after the check_file calls: stop before driving anything
    begin
      if (file_errors != 0) begin
        $display("FAIL %0d vector file(s) missing, unreadable or of the wrong length; nothing was checked",
                 file_errors);
        $fatal(1, "tb_@TOP@: bad vector files");
      end
    end
  endtask

  initial begin : watchdog
    while (cycles < TIMEOUT_CYCLES && !done) @(posedge clk);
    if (!done) begin
      $display("FAIL timeout after %0d cycles: %0d vectors checked, %0d mismatches", cycles, checked, errors);
      $fatal(1, "tb_@TOP@: timeout");
    end
  end
"""

_TAIL = """
  task finish;
    begin
      if (checked != EXPECTED) begin
        errors = errors + 1;
        $display("MISMATCH %0d outputs compared, expected %0d", checked, EXPECTED);
      end
      if (errors == 0) begin
        $display("PASS %0d vectors", checked);
        done = 1'b1;
        if (FINISH != 0) $finish;
      end else begin
        $display("FAIL %0d mismatches in %0d vectors", errors, checked);
        $fatal(1, "tb_@TOP@: %0d mismatches", errors);
      end
    end
  endtask
endmodule
"""


def elementwise(top: str, ports: dict, n: int, n_alt: int, signed_y: bool, cfg: dict | None) -> str:
    """Bench of an elementwise unit (ports ``x``/``y``; optional ``clk``/``rst``,
    ``in_valid``/``out_valid``, ``cfg_*``).

    ``ports["_lanes"]`` = P > 1 (a LANES=P unit, ``x``/``y`` P lanes wide):
    the vector files stay one lane's (``xs``/``ys``, n words), and in the
    pass's clock t lane l gets vector ``(t + l*n/P) mod n`` (integer
    division; n = the pass's count), i.e. lane l runs the vectors rotated by
    l*n/P: a different vector on every lane in every clock and every vector
    on every lane. Every lane's output is checked, and ``checked`` counts
    lane results (n * P per pass). P = 1 is the same bench with one lane."""
    lat = ports.get("_latency", 0)
    lanes = ports.get("_lanes", 1)
    xw, yw = ports["x"] // lanes, ports["y"] // lanes       # one lane's widths
    clocked = "clk" in ports
    valid = "in_valid" in ports
    conns = [".x(x)", ".y(y)"]
    if clocked:
        conns += [".clk(clk)", ".rst(rst)"]
    if valid:
        conns += [".in_valid(in_valid)", ".out_valid(out_valid)"]
    if cfg:
        conns += [".cfg_we(cfg_we)", ".cfg_addr(cfg_addr)", ".cfg_data(cfg_data)"]
    fmt_y = "%h (%0d)" if signed_y is not None else "%h"
    sy = (lambda s: f"{s}, $signed({s})") if signed_y else ((lambda s: f"{s}, {s}") if signed_y is False
                                                             else (lambda s: s))
    lane_note = "" if lanes == 1 else """
  // P lanes, lane l in x[l*XW +: XW] and y[l*YW +: YW]. The vector files hold one lane's vectors;
  // in a pass of `cnt` vectors, lane l gets vector (t + l*cnt/P) % cnt in the pass's clock t:
  // every lane a different vector in every clock, every vector on every lane."""
    body = [f"""
  // ---- the unit ----------------------------------------------------------------------{lane_note}
  localparam P = {lanes}, XW = {xw}, YW = {yw}, N = {n}, N_ALT = {n_alt}, LAT = {lat};
  reg [P*XW-1:0] x = {{(P*XW){{1'b0}}}};
  reg in_valid = 1'b0;             // a vector is driven in this cycle
  wire [P*YW-1:0] y;
  integer cnt = N;                 // vectors in the current pass (N, or N_ALT for the second table)"""]
    if valid:
        body.append("  wire out_valid;")
    else:
        body.append("  wire out_valid = in_valid;      // combinational (latency 0): y follows x")
    if cfg:
        aw, dw, nw = cfg["addr_bits"], cfg["data_bits"], cfg["words"]
        body.append(f"""  localparam AW = {aw}, DW = {dw}, NW = {nw};
  reg cfg_we = 1'b0;
  reg [AW-1:0] cfg_addr = {{AW{{1'b0}}}};
  reg [DW-1:0] cfg_data = {{DW{{1'b0}}}};
  reg [DW-1:0] image [0:NW-1];     // programming image (prog/{top}_lut.hex)
  reg [DW-1:0] image_alt [0:NW-1]; // a second table of the same formats
  reg [YW-1:0] ya [0:N_ALT-1];     // expected outputs with the second table""")
    body.append(f"""  {top} dut ({", ".join(conns)});

  reg [XW-1:0] xs [0:N-1];
  reg [YW-1:0] ys [0:N-1];
  reg alt = 1'b0;                  // checking against the second table
  integer got = 0;                 // outputs seen in the current pass
  reg [YW-1:0] want;""")
    # the checker
    if lat > 0:
        body.append(f"""
  // ---- checker: out_valid is in_valid delayed by LAT = {lat} clocks; y in input order ----
  reg [LAT:0] vq = {{(LAT+1){{1'b0}}}};
  always @(posedge clk) begin
    if (rst) vq <= {{(LAT+1){{1'b0}}}};
    else begin
      vq <= {{vq[LAT-1:0], in_valid}};
      if (out_valid !== vq[LAT-1]) begin
        errors = errors + 1;
        if (errors <= MAX_REPORTED)
          $display("MISMATCH out_valid = %b at cycle %0d, expected %b (latency {lat})", out_valid, cycles, vq[LAT-1]);
      end
      if (out_valid === 1'b1) check_y;
    end
  end""")
    else:
        body.append("""
  // ---- checker: combinational, y is compared just before the next rising edge -----------
  always @(posedge clk) if (!rst && in_valid) check_y;""")
    body.append(_tasks(cfg is not None, fmt_y, sy))
    if cfg:
        body.append("""
  // ---- the load sequence: one cfg_we pulse per word, address and word with it ------------
  task load;
    input second;
    integer a;
    begin
      for (a = 0; a < NW; a = a + 1) begin
        @(negedge clk);
        cfg_we = 1'b1;
        cfg_addr = a[AW-1:0];
        cfg_data = second ? image_alt[a] : image[a];
      end
      @(negedge clk);
      cfg_we = 1'b0;
    end
  endtask""")
    main = [f"""
  initial begin : main
    $sformat(fname, "%0s{top}.x.hex", VECDIR);
    check_file(fname, N);
    $sformat(fname, "%0s{top}.y.hex", VECDIR);
    check_file(fname, N);"""]
    if cfg:
        main.append(f"""    $sformat(fname, "%0s{top}_lut.hex", PROGDIR);
    check_file(fname, NW);
    $sformat(fname, "%0s{top}.cfg_alt.hex", VECDIR);
    check_file(fname, NW);
    $sformat(fname, "%0s{top}.y_alt.hex", VECDIR);
    check_file(fname, N_ALT);""")
    main.append(f"""    files_ok;
    $readmemh({{VECDIR, "{top}.x.hex"}}, xs);
    $readmemh({{VECDIR, "{top}.y.hex"}}, ys);""")
    if cfg:
        main.append(f"""    $readmemh({{PROGDIR, "{top}_lut.hex"}}, image);
    $readmemh({{VECDIR, "{top}.cfg_alt.hex"}}, image_alt);
    $readmemh({{VECDIR, "{top}.y_alt.hex"}}, ya);""")
    main.append("""    repeat (2) @(negedge clk);
    rst = 1'b0;""")
    if cfg:
        main.append("""    load(1'b1);                    // the second table, then its outputs
    alt = 1'b1;
    got = 0;
    run(N_ALT);
    load(1'b0);                    // the programming image, then every vector
    alt = 1'b0;""")
    main.append("""    got = 0;
    run(N);
    finish;
  end""")
    text = _HEAD + "\n".join(body) + "\n" + "\n".join(main) + "\n" + _TAIL
    timeout = 2 * (n + n_alt) + 4 * (cfg["words"] if cfg else 0) + 10 * lat + 100
    return _sub(text, {"TOP": top, "TIMEOUT": timeout, "HALF": PERIOD // 2, "EXPECTED": (n + n_alt) * lanes})


def _tasks(alt: bool, fmt_y: str, sy) -> str:
    """``check_y`` and ``run`` of the bench, for P lanes (P = 1 included; see :func:`elementwise`)."""
    src = "alt ? ya[k] : ys[k]" if alt else "ys[k]"
    return f"""
  reg [YW-1:0] yl;                 // one lane's output
  task check_y;
    integer l, k;
    begin
      for (l = 0; l < P; l = l + 1) begin
        k = (got + (l * cnt) / P) % cnt;
        want = {src};
        yl = y[l*YW +: YW];
        checked = checked + 1;
        if (yl !== want) begin
          errors = errors + 1;
          if (errors <= MAX_REPORTED)
            $display("MISMATCH vector %0d lane %0d (table %0d): x = %h, y = {fmt_y}, expected {fmt_y}", k, l,
                     alt ? 2 : 1, xs[k], {sy("yl")}, {sy("want")});
        end
      end
      got = got + 1;
    end
  endtask

  // ---- driver: one vector per lane per clock, changed at the falling edge ---------------
  task run;
    input integer count;
    integer i, l;
    begin
      cnt = count;
      for (i = 0; i < count; i = i + 1) begin
        @(negedge clk);
        for (l = 0; l < P; l = l + 1)
          x[l*XW +: XW] = xs[(i + (l * count) / P) % count];
        in_valid = 1'b1;
      end
      @(negedge clk);
      in_valid = 1'b0;
      repeat (LAT + 2) @(negedge clk);
      if (got != count) begin
        errors = errors + 1;
        $display("MISMATCH %0d outputs for %0d inputs", got, count);
      end
    end
  endtask"""


def sram_model(top: str, words: int, addr_bits: int, bits: int) -> str:
    """The behavioural model of the single-port SRAM a ``ROW_STORE=sram``
    unit needs (DESIGN.md "SRAM row store"; the cocotb benches' model is
    :mod:`sim.sram`), as module ``<top>_sram_model``: the bench's stand-in
    for the chip's macro."""
    return f"""
// {top}_sram_model: behavioural model of the SRAM {top} needs ({words} words x {bits} bits, one port,
// synchronous, read latency 1: at a rising edge with en=1, we=1 writes wdata at addr, we=0 reads addr,
// and the word is on rdata after that edge until the next read). The chip connects its macro instead.
module {top}_sram_model (clk, en, we, addr, wdata, rdata);
  input clk, en, we;
  input [{addr_bits - 1}:0] addr;
  input [{bits - 1}:0] wdata;
  output reg [{bits - 1}:0] rdata;
  reg [{bits - 1}:0] mem [0:{words - 1}];
  always @(posedge clk)
    if (en) begin
      if (we) mem[addr] <= wdata;
      else rdata <= mem[addr];
    end
endmodule
"""


def rowwise(top: str, in_bits: int, out_bits: int, out_signed: bool, flag: str, n_in: int, n_out: int,
            cycles_bound: int, cfg: dict | None = None, sram: dict | None = None) -> str:
    """Bench of a streaming row-wise unit: every input at full rate and every
    output with ``out_ready`` high for the first half of the outputs, then
    pseudo-random input gaps and output back-pressure (3 in 4 cycles ready).
    ``cfg`` ({"cfg_addr": width, "cfg_data": width}) for a unit with a
    parameter write port (affine LayerNorm): the port is held idle, so the
    unit runs on its reset contents, which the expected outputs assume.
    ``sram`` ({"words", "addr", "bits"}) for a ``ROW_STORE=sram`` unit: the
    bench connects :func:`sram_model` (written after the bench module)."""
    cfg_decl, cfg_conn = "", ""
    if cfg:
        cfg_decl = (f"\n  wire cfg_we = 1'b0;\n  wire [{cfg['cfg_addr'] - 1}:0] cfg_addr = {cfg['cfg_addr']}'d0;"
                    f"\n  wire [{cfg['cfg_data'] - 1}:0] cfg_data = {cfg['cfg_data']}'d0;")
        cfg_conn = ", .cfg_we(cfg_we), .cfg_addr(cfg_addr), .cfg_data(cfg_data)"
    if sram:
        cfg_decl += (f"\n  wire sram_en, sram_we;\n  wire [{sram['addr'] - 1}:0] sram_addr;"
                     f"\n  wire [{sram['bits'] - 1}:0] sram_wdata, sram_rdata;"
                     f"\n  {top}_sram_model row_sram (.clk(clk), .en(sram_en), .we(sram_we), .addr(sram_addr), "
                     ".wdata(sram_wdata), .rdata(sram_rdata));")
        cfg_conn += (",\n    .sram_en(sram_en), .sram_we(sram_we), .sram_addr(sram_addr), .sram_wdata(sram_wdata), "
                     ".sram_rdata(sram_rdata)")
    dec = ", $signed(o_data)" if out_signed else ", o_data"
    dec_w = ", $signed(outs[out_i][OW-1:0])" if out_signed else ", outs[out_i][OW-1:0]"
    body = f"""
  // ---- the unit ----------------------------------------------------------------------
  localparam IW = {in_bits}, OW = {out_bits}, NI = {n_in}, NO = {n_out};
  reg [IW:0] ins [0:NI-1];         // {{in_last, in_data}}
  reg [OW+1:0] outs [0:NO-1];      // {{{flag}, out_last, out_data}}
  integer in_i = 0;                // inputs transferred
  integer out_i = 0;               // outputs transferred
  reg [15:0] lfsr = 16'hACE1;
  reg out_ready = 1'b0;
  wire bp = (out_i >= NO / 2);     // second half: input gaps and output back-pressure
  wire [IW:0] cur = (in_i < NI) ? ins[in_i] : {{(IW+1){{1'b0}}}};
  wire in_valid = !rst && (in_i < NI) && (!bp || lfsr[3:2] != 2'b00);
  wire in_last = cur[IW];
  wire [IW-1:0] in_data = cur[IW-1:0];
  wire in_ready, out_valid, out_last, o_flag;
  wire [OW-1:0] o_data;{cfg_decl}
  {top} dut (.clk(clk), .rst(rst), .in_valid(in_valid), .in_ready(in_ready), .in_data(in_data),
    .in_last(in_last), .out_valid(out_valid), .out_ready(out_ready), .out_data(o_data),
    .out_last(out_last), .{flag}(o_flag){cfg_conn});

  // ---- handshakes: a transfer at a rising edge where valid and ready are both high ----
  always @(posedge clk) begin
    lfsr <= {{lfsr[14:0], lfsr[15] ^ lfsr[13] ^ lfsr[12] ^ lfsr[10]}};
    if (rst) out_ready <= 1'b0;
    else begin
      out_ready <= !bp || (lfsr[1:0] != 2'b00);
      if (in_valid && in_ready) in_i <= in_i + 1;
      if (out_valid === 1'b1 && out_ready) begin
        checked = checked + 1;
        if (out_i >= NO) begin
          errors = errors + 1;
          if (errors <= MAX_REPORTED)
            $display("MISMATCH output %0d: more outputs than the %0d expected", out_i, NO);
        end else if ({{o_flag, out_last, o_data}} !== outs[out_i]) begin
          errors = errors + 1;
          if (errors <= MAX_REPORTED)
            $display("MISMATCH output %0d: out_data = %h (%0d) out_last = %b {flag} = %b, expected %h (%0d) %b %b",
                     out_i, o_data{dec}, out_last, o_flag,
                     outs[out_i][OW-1:0]{dec_w}, outs[out_i][OW], outs[out_i][OW+1]);
        end
        out_i <= out_i + 1;
      end
    end
  end

  initial begin : main
    $sformat(fname, "%0s{top}.in.hex", VECDIR);
    check_file(fname, NI);
    $sformat(fname, "%0s{top}.out.hex", VECDIR);
    check_file(fname, NO);
    files_ok;
    $readmemh({{VECDIR, "{top}.in.hex"}}, ins);
    $readmemh({{VECDIR, "{top}.out.hex"}}, outs);
    repeat (2) @(negedge clk);
    rst = 1'b0;
    while (out_i < NO) @(negedge clk);
    repeat (8) @(negedge clk);     // no output may follow the last one
    if (in_i != NI) begin
      errors = errors + 1;
      $display("MISMATCH %0d of %0d inputs taken", in_i, NI);
    end
    finish;
  end
"""
    model = sram_model(top, sram["words"], sram["addr"], sram["bits"]) if sram else ""
    return _sub(_HEAD + body + _TAIL, {"TOP": top, "TIMEOUT": cycles_bound, "HALF": PERIOD // 2,
                                        "EXPECTED": n_out}) + model
