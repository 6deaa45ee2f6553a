"""Property-based fuzzing (Hypothesis, derandomized so CI is deterministic):
the spec loader and the command line never raise anything but their one-line
errors, never write on rejection, and a valid spec always round-trips."""

import copy
import json
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flow.cli import UsageError, configs, from_env, parser, _merge_range, MAKE_VARS
from flow.config import ConfigError
from hw.spec import Spec, SpecError, validate_doc
from tests.helpers import GOOD, examples

FUZZ = settings(derandomize=True, max_examples=examples(2000), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

numbers = st.one_of(st.integers(-2**70, 2**70), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0, 1, -1, 2**31, 2**32, 2**63, 1e308, -1e-308]))
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=12))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=6),
                                                            st.dictionaries(st.text(max_size=8), inner, max_size=6)),
                           max_leaves=30)
FIELDS = [("format",), ("version",), ("op",), ("entries",), ("impl",), ("input",), ("input", "bits"),
          ("input", "frac"), ("input", "signed"), ("input", "type"), ("breakpoints",), ("breakpoints", 0),
          ("slopes",), ("slopes", "bits"), ("slopes", "values"), ("slopes", "values", 1), ("intercepts", "frac"),
          ("output",), ("output", "bits"), ("output", "signed"), ("fit",), ("values",)]


def _one_line_spec_error(doc):
    try:
        spec = validate_doc(doc)
    except SpecError as e:
        assert "\n" not in str(e) and len(str(e)) < 400, str(e)
        return None
    again = Spec.from_json(json.loads(spec.dumps()))          # a valid spec round-trips exactly
    assert again == spec and again.dumps() == spec.dumps()
    return spec


@FUZZ
@given(json_values)
def test_any_json_document_is_a_spec_or_one_spec_error(doc):
    _one_line_spec_error(doc)


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(FIELDS), json_values), min_size=1, max_size=3))
def test_a_valid_spec_with_fields_replaced(changes):
    doc = copy.deepcopy(GOOD)
    for path, value in changes:
        node = doc
        try:
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    _one_line_spec_error(doc)


@settings(derandomize=True, max_examples=examples(300), deadline=None)
@given(st.binary(max_size=2000))
def test_any_file_is_a_spec_or_one_spec_error(tmp_path_factory, data):
    f = tmp_path_factory.mktemp("fuzz") / "spec.json"
    f.write_bytes(data)
    try:
        Spec.load(f)
    except SpecError as e:
        assert "\n" not in str(e)


def test_deep_nesting_and_directories_are_spec_errors(tmp_path):
    (tmp_path / "deep.json").write_text("[" * 100_000)
    for path in (tmp_path / "deep.json", tmp_path):
        try:
            Spec.load(path)
            raise AssertionError("loaded")
        except SpecError as e:
            assert "\n" not in str(e)


OPTIONS = ["--entries", "--format", "--stages", "--lut", "--ftz", "--seed", "--range", "--method", "--objective",
           "--rule", "--population", "--generations", "--round-prob", "--in-frac", "--out-frac", "--in-bits",
           "--slope-bits", "--row", "--row-buffers", "--sm-in-frac", "--ln-in", "--ln-out", "--ln-rsqrt",
           "--ln-eps", "--ln-gamma", "--ln-beta", "--ln-affine", "--spec", "--ln-params", "--force", "-q"]
VALUES = st.one_of(st.sampled_from(["0", "1", "8", "-1", "256", "257", "int8", "fp32", "rom", "regs", "s16.8",
                                    "s8.-1", "u8.4", "1e308", "inf", "nan", "-4e0", "gelu", "softmax",
                                    "layernorm", "all", "a;b", "`x`", "$(x)", "", " ", "1,2", "0,1", "8,16"]),
                   st.text(alphabet=string.printable, max_size=10))
ARGV = st.lists(st.one_of(st.sampled_from(OPTIONS), VALUES), max_size=10)


@FUZZ
@given(st.sampled_from(["gelu", "softmax", "layernorm", "exp,tanh", "all", "nosuch", "-x"]), ARGV)
def test_gen_arguments_validate_to_configs_or_one_line_errors(op, argv):
    """Validation alone (nothing is fitted): configurations, or a one-line
    error of the kinds the CLI turns into `error:` and exit status 2."""
    try:
        cfgs = configs(parser().parse_args(_merge_range(["gen", op, *argv])))
    except (UsageError, ConfigError, SpecError) as e:
        assert "\n" not in str(e).strip(), str(e)
        return
    for c in cfgs:                                     # each configuration names itself and rebuilds
        assert c.name and c.make_line().startswith("make gen ") and "\n" not in c.make_line()


@FUZZ
@given(st.dictionaries(st.sampled_from([v for v, _ in MAKE_VARS["gen"]]), VALUES, max_size=6))
def test_make_variables_are_data(env):
    """Whatever the make variables hold, they become arguments (or a
    one-line error), never anything else."""
    try:
        argv = from_env("gen", env)
        configs(parser().parse_args(_merge_range(["gen", *argv])))
    except (UsageError, ConfigError, SpecError) as e:
        assert "\n" not in str(e).strip(), str(e)


def test_non_finite_numbers_anywhere_are_spec_errors():
    """Found by the fuzzer: NaN in ``fit`` made a spec that does not read back
    equal to itself; JSON has no NaN or Infinity, so a spec may not hold one."""
    for path, v in ((("fit",), {"x": float("nan")}), (("fit",), {"m": [1.0, float("inf")]}),
                    (("slopes", "values", 0), float("-inf"))):
        doc = copy.deepcopy(GOOD)
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = v
        try:
            validate_doc(doc)
            raise AssertionError(f"accepted {path} = {v}")
        except SpecError as e:
            assert "finite" in str(e) or "integer" in str(e), str(e)
