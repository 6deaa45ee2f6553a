"""The LUT spec: round trip and one clear error per malformed field."""

import copy
import json
import subprocess
import sys

import pytest

from hw.spec import Spec, SpecError, validate_doc
from tests.helpers import GOOD


def mutate(path, value):
    doc = copy.deepcopy(GOOD)
    *parents, last = path
    node = doc
    for p in parents:
        node = node[p]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return doc


BAD = [
    # (path, new value, field named in the message, words in the message)
    (("version",), 2, "version", "unknown version"),
    (("format",), "lut", "format", "gqa-lut-spec"),
    (("breakpoints",), [0, -40, 40], "breakpoints[1]", "strictly increasing"),
    (("breakpoints",), [-40, 0, 0], "breakpoints[2]", "strictly increasing"),
    (("slopes", "values"), [0, 10, 300, 64], "slopes.values[2]", "does not fit"),
    (("intercepts", "values"), [-129, 0, 1, -2], "intercepts.values[0]", "does not fit"),
    (("slopes", "values"), [0, 10, 50], "slopes.values", "entries"),
    (("breakpoints",), [-40, 0], "breakpoints", "entries - 1"),
    (("output",), KeyError, "output", "missing"),
    (("input", "frac"), KeyError, "input.frac", "missing"),
    (("breakpoints",), [-40, 0.5, 40], "breakpoints[1]", "integer"),
    (("slopes", "values"), [0, 10, "50", 64], "slopes.values[2]", "integer"),
    (("breakpoints",), [-40, 0, 200], "breakpoints[2]", "outside the input range"),
    (("input", "bits"), 40, "input.bits", "2..32"),
    (("entries",), 0, "entries", "1..256"),
    (("input", "signed"), 1, "input.signed", "true or false"),
    (("op",), "Ge Lu", "op", "identifier"),
    (("entries",), True, "entries", "integer"),
]


@pytest.mark.parametrize("path,value,field,words", BAD, ids=[b[2] + ":" + b[3] for b in BAD])
def test_malformed_spec_names_field(path, value, field, words):
    with pytest.raises(SpecError) as e:
        validate_doc(mutate(path, value))
    assert e.value.field == field
    assert f"'{field}'" in str(e.value) and words in str(e.value)


def test_good_spec_round_trips(tmp_path):
    spec = validate_doc(copy.deepcopy(GOOD))
    spec.save(tmp_path / "s.json")
    again = Spec.load(tmp_path / "s.json")
    assert again == spec
    assert json.loads((tmp_path / "s.json").read_text()) == GOOD


def test_unknown_fields_are_kept(tmp_path):
    doc = copy.deepcopy(GOOD)
    doc["comment"] = "from a chip team"
    spec = validate_doc(doc)
    assert spec.to_json()["comment"] == "from a chip team"


def test_fp32_spec_validates():
    doc = {"format": "gqa-lut-spec", "version": 1, "op": "gelu", "entries": 2,
           "input": {"type": "fp32"}, "breakpoints": [0.5],
           "slopes": {"type": "fp32", "values": [0.25, 1.0]},
           "intercepts": {"type": "fp32", "values": [0.0, -0.125]}, "output": {"type": "fp32"}}
    assert validate_doc(doc).is_fp32
    doc["slopes"]["values"] = [0.1, 1.0]          # 0.1 is not a binary32 value
    with pytest.raises(SpecError, match="slopes.values\\[0\\]"):
        validate_doc(doc)


def test_cli_reports_bad_spec_in_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(mutate(("version",), 7)))
    for cmd in (["-m", "flow", "check", str(bad)], ["-m", "flow", "gen", "--spec", str(bad), "--build", str(tmp_path / "o")]):
        r = subprocess.run([sys.executable, *cmd], capture_output=True, text=True)
        assert r.returncode == 2
        assert r.stderr.strip().count("\n") == 0 and "version" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()          # nothing written for a bad spec


# -- impl: table / uniform (hw/impls.py) ---------------------------------------------

UNIFORM = dict(GOOD, impl="uniform", breakpoints=[-64, 0, 64])
TABLE = {"format": "gqa-lut-spec", "version": 1, "op": "gelu", "impl": "table", "entries": 16,
         "input": {"bits": 4, "signed": True, "frac": 1},
         "output": {"bits": 8, "signed": True, "frac": 5}, "values": list(range(-8, 8))}

BAD_IMPL = [
    # (document, field named in the message, words in the message)
    (dict(GOOD, impl="cordic"), "impl", "must be one of"),
    (dict(GOOD, impl=None), "impl", "must be one of"),
    (dict(UNIFORM, breakpoints=[-40, 0, 40]), "breakpoints[0]", "segment boundaries"),
    (dict(UNIFORM, entries=3, breakpoints=[-64, 0], slopes={"bits": 8, "frac": 6, "values": [0, 1, 2]},
          intercepts={"bits": 8, "frac": 6, "values": [0, 1, 2]}), "entries", "power of two"),
    (dict(GOOD, values=[1]), "values", "only a table spec"),
    (dict(TABLE, values=list(range(15))), "values", "16 values"),
    (dict(TABLE, values=[0] * 15 + [128]), "values[15]", "does not fit"),
    (dict(TABLE, values=[0] * 15 + [True]), "values[15]", "integer"),
    (dict(TABLE, entries=8), "entries", "2^4 = 16"),
    (dict(TABLE, slopes=GOOD["slopes"]), "slopes", "no breakpoints, slopes"),
    (dict(TABLE, input={"bits": 13, "signed": True, "frac": 1}, entries=8192), "input.bits", "at most 12"),
    (dict(TABLE, input={"type": "fp32"}, output={"type": "fp32"}), "impl", "integer input and output"),
]


@pytest.mark.parametrize("doc,field,words", BAD_IMPL, ids=[b[1] + ":" + b[2] for b in BAD_IMPL])
def test_malformed_impl_spec_names_field(doc, field, words):
    with pytest.raises(SpecError) as e:
        validate_doc(copy.deepcopy(doc))
    assert e.value.field == field
    assert f"'{field}'" in str(e.value) and words in str(e.value)


def test_impl_specs_round_trip(tmp_path):
    for doc in (UNIFORM, TABLE):
        spec = validate_doc(copy.deepcopy(doc))
        assert spec.impl == doc["impl"]
        spec.save(tmp_path / "s.json")
        assert json.loads((tmp_path / "s.json").read_text()) == doc
        assert Spec.load(tmp_path / "s.json") == spec
    table = validate_doc(copy.deepcopy(TABLE))
    assert table.slopes is None and table.breakpoints == () and table.values == tuple(range(-8, 8))


def test_pwl_spec_is_written_without_impl():
    spec = validate_doc(dict(copy.deepcopy(GOOD), impl="pwl"))
    assert spec.impl == "pwl" and spec == validate_doc(copy.deepcopy(GOOD))
    assert "impl" not in spec.to_json() and spec.dumps() == validate_doc(copy.deepcopy(GOOD)).dumps()


def test_error_naming_a_key_with_a_newline_is_one_line():
    """The fuzzer's case: a document key holding a newline, under a value that
    is refused; the field path in the message is escaped (one line)."""
    from hw.spec import SpecError
    e = SpecError("format.\n", float("inf"), "must be a finite number (JSON has no NaN or Infinity)")
    assert "\n" not in str(e) and "format.\\n" in str(e)
    assert len(str(SpecError("x" * 500, 1, "bad"))) < 200
