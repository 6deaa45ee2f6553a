"""A first run that talks (issue 21): what the commands print, and the checks
they make before any work. Each test runs ``gqa-lut`` in this process
(:func:`flow.cli.main`) on a fresh build directory."""

from __future__ import annotations

import json
from pathlib import Path

from flow.cli import main


def run(capsys, *argv) -> tuple[int, str, str]:
    """``gqa-lut ARGV``: (exit status, stdout, stderr)."""
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


# -- 1. MAX_ERR_LSB says what it found -----------------------------------------------------

def test_max_err_lsb_prints_entries_and_certified_error(tmp_path, capsys):
    rc, out, err = run(capsys, "gen", "gelu", "--max-err-lsb", "1", "--build", tmp_path, "--no-handoff", "-q")
    assert rc == 0, err
    unit = tmp_path / "gelu_int8_m1"
    found = json.loads((unit / "spec.json").read_text())["fit"]["minimal"]
    n, cert = found["entries"], found["certificate"]["max_err_lsb"]
    assert json.loads((unit / "manifest.json").read_text())["entries"] == n
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if "gelu_int8_m1/" in line)
    near = " ".join(lines[at:at + 2])           # the unit's line or the one right after it
    assert f"{n} entries" in near, out
    assert f"{cert:.3f} LSB" in near, out
    assert "certified" in near, out


def test_plain_gen_prints_no_search_line(tmp_path, capsys):
    rc, out, err = run(capsys, "gen", "gelu", "--entries", "4", "--generations", "5", "--build", tmp_path,
                       "--no-handoff", "-q")
    assert rc == 0, err
    assert "certified" not in out and len(out.splitlines()) == 1, out


# -- 2. make fit accepts what make gen accepts; errors agree with their own lists ----------

def test_fit_takes_comma_lists_as_gen_does(tmp_path, capsys, monkeypatch):
    for var, v in (("OP", "gelu"), ("ENTRIES", "4,6"), ("FITARGS", "--generations 5 -q"),
                   ("BUILD", str(tmp_path))):
        monkeypatch.setenv(var, v)
    rc, out, err = run(capsys, "--from-env", "fit")        # what make fit OP=gelu ENTRIES=4,6 runs
    assert rc == 0, err
    paths = [line.split()[0] for line in out.splitlines()]
    assert len(paths) == 2, out
    for n, p in zip((4, 6), paths):
        assert json.loads(open(p).read())["entries"] == n


def _one_error(rc, out, err) -> str:
    assert rc == 2 and out == "", (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "unexpected" not in lines[0], err
    return lines[0]


def test_fit_of_a_rowwise_op_says_fit_is_element_wise(tmp_path, capsys):
    from flow.config import ROWWISE
    for op in ROWWISE:
        line = _one_error(*run(capsys, "fit", op, "--build", tmp_path / "b"))
        assert "element-wise" in line and "unknown op" not in line, line
        assert f"make gen OP={op}" in line, line
    line = _one_error(*run(capsys, "fit", "gelu,softmax", "--entries", "4", "--build", tmp_path / "b"))
    assert "element-wise" in line, line
    assert not (tmp_path / "b").exists()        # nothing fitted before the refusal


def test_errors_agree_with_their_own_lists(tmp_path, capsys):
    """An unknown op's message lists as known exactly what that command accepts."""
    from fitter import functions
    from flow.config import ROWWISE
    for cmd, accepted in (("fit", list(functions.FUNCTIONS)), ("gen", list(functions.FUNCTIONS) + list(ROWWISE))):
        line = _one_error(*run(capsys, cmd, "nosuchop", "--build", tmp_path / "b"))
        known = line.split("known ops: ")[1].split(" (")[0].split(", ")
        assert known == accepted, (cmd, line)
    for args, words in ((["--entries", "4,x"], "entries 'x' is not an integer"),
                        (["--entries", "4,300"], "out of range"),
                        (["--format", "int8,int9"], "unknown format 'int9'")):
        line = _one_error(*run(capsys, "fit", "gelu", *args, "--build", tmp_path / "b"))
        assert words in line, line
    assert not (tmp_path / "b").exists()


# -- 3. the datasheet starts with the verify command, and says what run_tb.sh runs ---------

def test_datasheet_first_line_is_the_verify_command_and_its_commands_are_the_scripts(tmp_path, capsys):
    rc, out, err = run(capsys, "gen", "gelu", "--entries", "4", "--generations", "5", "--build", tmp_path,
                       "--handoff", "-q")
    assert rc == 0, err
    pkg = next(tmp_path.glob("gelu_int8_e4*/handoff"))
    sheet = (pkg / "DATASHEET.md").read_text()
    first = sheet.splitlines()[0]
    assert first.startswith("`sh run_tb.sh icarus`") and "verifies" in first, first
    assert "## Ports" in sheet and "## Accuracy" in sheet and "## Regenerate" in sheet     # the rest stays
    # the commands the datasheet says run_tb.sh runs are the script's own, temporary directory included
    block = sheet.split("```sh\n", 1)[1].split("```", 1)[0]
    cmds = [ln for ln in block.splitlines() if ln.strip() and not ln.startswith("#")]
    script = (pkg / "run_tb.sh").read_text()
    assert any(ln.startswith("scratch=$(mktemp -d") for ln in cmds), block
    for ln in cmds:
        assert ln in script, ln
    top = json.loads((pkg / "manifest.json").read_text())["top"]
    assert f"-o tb_{top}" not in sheet and f"-o tb_{top}" not in script
    assert f'-o "$scratch/tb_{top}.vvp"' in sheet


# -- 4. cached artefacts are verified before reuse -----------------------------------------

PNG = b"\x89PNG\r\n\x1a\n"


def _stderr_lines(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.strip()]


def test_cached_plot_that_is_not_a_png_or_is_missing_is_redrawn(tmp_path, capsys):
    gen = ("gen", "gelu", "--entries", "4", "--stages", "2", "--generations", "5", "--build", tmp_path,
           "--no-handoff", "-q")
    rc, out, err = run(capsys, *gen)
    assert rc == 0, err
    unit = Path(out.split()[0])
    cache, = [d for d in tmp_path.iterdir() if d.is_dir() and d != unit]     # the fit, shared by units
    good = (cache / "fit.png").read_bytes()
    assert good[:8] == PNG and (unit / "fit.png").read_bytes() == good
    for damage, words in ((lambda p: p.write_bytes(b"GIF89a" + good[6:]), "not a PNG"),
                          (lambda p: p.write_bytes(b""), "not a PNG"),
                          (lambda p: p.unlink(), "missing")):
        damage(cache / "fit.png")
        rc, out, err = run(capsys, *gen)
        assert rc == 0, err
        lines = _stderr_lines(err)
        assert len(lines) == 1 and "fit.png" in lines[0] and words in lines[0], err
        assert (cache / "fit.png").read_bytes() == good           # redrawn, the same plot
        assert (unit / "fit.png").read_bytes() == good            # and the unit's copy is the good one
    rc, out, err = run(capsys, *gen)                            # a good cache is reused without a word
    assert rc == 0 and _stderr_lines(err) == [], err


def test_cache_rejected_for_an_edited_table_says_so(tmp_path, capsys):
    fit = ("fit", "gelu", "--entries", "4", "--generations", "5", "--build", tmp_path, "-q")
    rc, out, err = run(capsys, *fit)
    assert rc == 0, err
    path = out.split()[0]
    doc = json.loads(open(path).read())
    doc["intercepts"]["values"][0] += 1                        # a hand edit; the digest stays
    open(path, "w").write(json.dumps(doc))
    rc, out, err = run(capsys, *fit)
    assert rc == 0, err
    lines = _stderr_lines(err)
    assert len(lines) == 1 and "rejected" in lines[0] and "edited" in lines[0], err
    assert json.loads(open(path).read())["intercepts"]["values"][0] != doc["intercepts"]["values"][0]
    open(path, "w").write("{not json")
    rc, out, err = run(capsys, *fit)
    assert rc == 0, err
    lines = _stderr_lines(err)
    assert len(lines) == 1 and "rejected" in lines[0] and "not a valid spec" in lines[0], err


# -- 5. a bad DSE_SCHEDULER is refused before any unit is built ----------------------------

def _closed_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dse_error(capsys, tmp_path, scheduler: str) -> str:
    import time
    t0 = time.monotonic()
    rc, out, err = run(capsys, "dse", "--ops", "gelu", "--formats", "int8", "--entries", "4", "--impls", "pwl",
                       "--luts", "rom", "--build", tmp_path / "b", "--scheduler", scheduler)
    assert time.monotonic() - t0 < 10, scheduler
    assert not (tmp_path / "b").exists(), scheduler          # nothing built, nothing written
    return _one_error(rc, out, err)


def test_unparsable_scheduler_is_one_error_line(tmp_path, capsys):
    for bad in ("localhost:8786", "tcp://", "tcp://host", "tcp://:8786", "tcp://host:0", "tcp://host:65536",
                "tcp://host:99999999999999999999", "tcp://host:abc", "tcp://ho st:8786", "tcp://h:1\nx",
                "http://127.0.0.1:8786", "tcp://" + "h" * 300 + ":8786"):
        line = _dse_error(capsys, tmp_path, bad)
        assert "--scheduler" in line and "tcp://host:port" in line, (bad, line)


def test_unreachable_scheduler_is_one_error_line_within_seconds(tmp_path, capsys):
    port = _closed_port()
    line = _dse_error(capsys, tmp_path, f"tcp://127.0.0.1:{port}")
    assert f"127.0.0.1:{port}" in line and "cannot reach" in line, line


def test_a_port_that_is_not_a_scheduler_is_refused(tmp_path, capsys):
    import socket
    import threading
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    conns = []

    def serve():                # answers every connection with HTTP, then holds it open
        srv.settimeout(8)
        try:
            while True:
                c, _ = srv.accept()
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
                conns.append(c)
        except OSError:
            pass

    threading.Thread(target=serve, daemon=True).start()
    try:
        line = _dse_error(capsys, tmp_path, f"tcp://127.0.0.1:{srv.getsockname()[1]}")
    finally:
        srv.close()
        for c in conns:
            c.close()
    assert "cannot reach a Dask scheduler" in line, line
