"""The scalar reference: hand-worked cases, its two modes, spec-driven behaviour, independence."""
from __future__ import annotations

import ast
import math
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from lstm_conformance.spec.expressions import evaluate
from lstm_conformance.reference import run_reference
from lstm_conformance.reference.lstm import ReferenceError_, _backend
from lstm_conformance.reference.scalar_math import DECIMAL_CONTEXT, FLOAT_KERNELS, PRECISION
from lstm_conformance.reference.vectors import ListOps
from lstm_conformance.spec.loader import SpecError, load_spec
from lstm_conformance.spec.variants import parameter_shapes

ROOT = Path(__file__).resolve().parent.parent
GATES = "ifgo"


def _params(H=1, I=1, **values):
    """All-zero canonical parameters for H = I = 1, with some entries set."""
    p = {}
    for g in GATES:
        p[f"W_{g}"] = [[values.get(f"W_{g}", 0.0)]]
        p[f"U_{g}"] = [[values.get(f"U_{g}", 0.0)]]
        p[f"b_{g}"] = [values.get(f"b_{g}", 0.0)]
    return p


@pytest.mark.parametrize("mode", ["decimal", "float"])
def test_hand_worked_single_step(spec, mode):
    # Worked by hand, T = I = H = B = 1, x = 1, h0 = 0.5, c0 = 2:
    #   i = sigmoid(ln 3 * 1)       = 3/4
    #   f = sigmoid(0)              = 1/2
    #   g = tanh(2 ln 2 * 0.5)      = tanh(ln 2) = (4 - 1) / (4 + 1) = 3/5
    #   o = sigmoid(-ln 3)          = 1/4
    #   c = 1/2 * 2 + 3/4 * 3/5     = 1.45
    #   h = 1/4 * tanh(1.45)
    params = _params(W_i=math.log(3), U_g=2 * math.log(2), b_o=-math.log(3))
    inputs = {"x": [[[1.0]]], "h0": [[0.5]], "c0": [[2.0]]}
    trace: list = []
    out = run_reference(spec, inputs, params, mode=mode, trace=trace)
    step = trace[0]
    assert step["i"][0] == pytest.approx(0.75, abs=1e-15)
    assert step["f"][0] == 0.5
    assert step["g"][0] == pytest.approx(0.6, abs=1e-15)
    assert step["o"][0] == pytest.approx(0.25, abs=1e-15)
    assert out["c_n"] == [[pytest.approx(1.45, abs=1e-15)]]
    assert out["h_n"] == [[pytest.approx(0.25 * math.tanh(1.45), abs=1e-15)]]
    assert out["y"] == [[out["h_n"][0]]]


def test_hand_worked_two_steps_two_rows(spec):
    # All weights and biases zero: i = f = o = 1/2, g = 0 every step, so
    # c_t = c_{t-1} / 2 and h_t = tanh(c_t) / 2.  Rows with c0 = 4 and c0 = -1.
    inputs = {"x": [[[0.3], [-7.0]], [[2.0], [0.1]]], "h0": [[0.9], [-0.2]], "c0": [[4.0], [-1.0]]}
    out = run_reference(spec, inputs, _params(), mode="decimal")
    assert out["c_n"] == [[1.0], [-0.25]]
    assert out["y"][0] == [[0.5 * math.tanh(2.0)], [0.5 * math.tanh(-0.5)]]
    assert out["y"][1] == [[0.5 * math.tanh(1.0)], [0.5 * math.tanh(-0.25)]]
    assert out["h_n"] == out["y"][1]


def test_decimal_mode_is_correctly_rounded_where_float_is_not(spec):
    # sigmoid(0.1): the decimal value is the float nearest the true value.
    params = _params(b_i=0.1, b_o=20.0)  # o ~ 1, c = i * g with g = tanh(0) = 0 -> use b_g
    params["b_g"] = [0.7]
    inputs = {"x": [[[0.0]]], "h0": [[0.0]], "c0": [[0.0]]}
    out = run_reference(spec, inputs, params, mode="decimal")
    with __import__("decimal").localcontext(DECIMAL_CONTEXT):
        one = Decimal(1)
        i = one / (one + (-Decimal(0.1)).exp())
        e = (-2 * Decimal(0.7)).exp()
        g = (one - e) / (one + e)
        assert out["c_n"][0][0] == float(i * g)


def test_decimal_precision_is_at_least_40_digits():
    assert PRECISION >= 40 and DECIMAL_CONTEXT.prec == PRECISION


@pytest.mark.parametrize("name", sorted(FLOAT_KERNELS))
def test_float_kernels_match_the_spec_definitions(spec, name):
    """The float mode's overflow-free kernels compute what the spec defines."""
    ops, functions, *_ = _backend(spec, "decimal")
    grid = [-1000.0, -800.5, -50.0, -20.0, -3.0, -1.0, -0.5, -1e-3, -1e-12, 0.0, 1e-12, 1e-3, 0.5, 1.0, 3.0, 20.0, 50.0, 800.5, 1000.0]
    import decimal
    takes = spec.data["activations"][name].get("takes", [])
    for numbers in ({"alpha": 1.5, "beta": 0.5}, {"alpha": 0.2, "beta": -2.0}):
        numbers = {k: v for k, v in numbers.items() if k in takes}
        with decimal.localcontext(DECIMAL_CONTEXT):
            for z in grid:
                exact = float(evaluate(spec.activations[name], {"z": Decimal(z), **{k: Decimal(v) for k, v in numbers.items()}},
                                       ops, functions))
                got = FLOAT_KERNELS[name](z, **numbers)
                assert abs(got - exact) <= 2.3e-16 * max(1.0, abs(exact)), (name, z, numbers, got, exact)


def test_float_mode_agrees_with_decimal_mode_on_a_golden_case(spec, golden_cases):
    case = next(c for c in golden_cases if c.id == "base-T16-B5-I10-H12")
    out = run_reference(spec, case.record["inputs"], case.record["params"], mode="float")
    for name, expected in case.record["expected"].items():
        flat_a, flat_e = _flat(out[name]), _flat(expected)
        assert max(abs(a - e) for a, e in zip(flat_a, flat_e)) < 1e-13


def test_reference_reproduces_a_golden_case_bit_for_bit(spec, golden_cases):
    case = next(c for c in golden_cases if c.id == "sat-T6-B2-I3-H4-bias900")
    out = run_reference(spec, case.record["inputs"], case.record["params"], mode="decimal")
    assert out == case.record["expected"]


def test_editing_an_equation_in_the_spec_changes_the_reference(project_copy, spec):
    """The reference executes the spec: drop the output tanh in a copy and h becomes o * c."""
    path = project_copy / "spec" / "lstm.yaml"
    path.write_text(path.read_text().replace("h: o * tanh(a_h)", "h: o * a_h"))
    mutated = load_spec(path)
    inputs = {"x": [[[1.0]]], "h0": [[0.5]], "c0": [[2.0]]}
    params = _params(W_i=math.log(3), U_g=2 * math.log(2), b_o=-math.log(3))
    before = run_reference(spec, inputs, params)
    after = run_reference(mutated, inputs, params)
    assert after["c_n"] == before["c_n"]
    assert after["h_n"][0][0] == pytest.approx(0.25 * 1.45, abs=1e-15)
    assert before["h_n"][0][0] == pytest.approx(0.25 * math.tanh(1.45), abs=1e-15)


def test_editing_an_activation_definition_changes_the_reference(project_copy, spec):
    path = project_copy / "spec" / "lstm.yaml"
    path.write_text(path.read_text().replace("definition: 1 / (1 + exp(-z))", "definition: 1 / (1 + exp(-2 * z))"))
    mutated = load_spec(path)
    inputs = {"x": [[[0.0]]], "h0": [[0.0]], "c0": [[1.0]]}
    params = _params(b_f=1.0)
    assert run_reference(mutated, inputs, params)["c_n"][0][0] == pytest.approx(1 / (1 + math.exp(-2)), abs=1e-15)
    assert run_reference(spec, inputs, params)["c_n"][0][0] == pytest.approx(1 / (1 + math.exp(-1)), abs=1e-15)


def test_trace_keeps_the_step_invariants(spec, golden_cases):
    """Every golden case's step quantities keep every step invariant of the spec (float mode trace)."""
    import numpy as np
    from lstm_conformance.judge.compare import check_invariants
    atol, rtol = spec.tolerance("float64")
    step_quantities = set(spec.equations)
    checked = set()
    for case in golden_cases:
        trace: list = []
        run_reference(spec, case.record["inputs"], case.record["params"], variant=case.variant, mode="float",
                      trace=trace)
        for step in trace:
            values = {k: np.array(v) for k, v in step.items() if k in step_quantities}
            env = {k: np.array(v) for k, v in step.items() if k not in ("t", "b", "layer", "run")}
            for check in check_invariants(spec, values, env, atol, rtol, variant=case.variant):
                assert check.ok, (case.id, step["t"], check)
                checked.add(check.name)
    assert checked == {inv["name"] for inv in spec.invariants() if inv["quantity"] in step_quantities}


def test_disabled_invariants_do_break_without_their_feature(spec, golden_cases):
    """Each invariant a feature disables is broken by some golden case of that feature: the `disables`
    lists are needed, not just cautious (projection takes h out of [-1, 1], Relu breaks cell_growth)."""
    import numpy as np
    from lstm_conformance.judge.compare import check_invariants
    from lstm_conformance.spec.cell import disabled_invariants
    atol, rtol = spec.tolerance("float64")
    broken: set[str] = set()
    for case in golden_cases:
        disabled = disabled_invariants(spec, case.variant)
        if not disabled:
            continue
        trace: list = []
        run_reference(spec, case.record["inputs"], case.record["params"], variant=case.variant, mode="float",
                      trace=trace)
        for step in trace:
            values = {k: np.array(v) for k, v in step.items() if k in spec.equations}
            env = {k: np.array(v) for k, v in step.items() if k not in ("t", "b", "layer", "run")}
            broken |= {c.name for c in check_invariants(spec, values, env, atol, rtol) if not c.ok} & disabled
        outputs = {k: np.array(v) for k, v in case.record["expected"].items()}
        env = {**{k: np.array(v) for k, v in case.record["inputs"].items()}, **case.record["dims"]}
        broken |= {c.name for c in check_invariants(spec, outputs, env, atol, rtol) if not c.ok} & disabled
    assert {"hidden_range", "output_range", "final_hidden_range", "candidate_range", "cell_growth",
            "input_gate_range"} <= broken, broken


def test_bad_inputs_are_named(spec):
    inputs = {"x": [[[1.0]]], "h0": [[0.5]], "c0": [[2.0]]}
    with pytest.raises(ReferenceError_, match=r"h0.shape=\(1, 2\), but should be \(1, 1\)"):
        run_reference(spec, {**inputs, "h0": [[0.5, 0.1]]}, _params())
    with pytest.raises(ReferenceError_, match="x holds nan"):
        run_reference(spec, {**inputs, "x": [[[float("nan")]]]}, _params())
    with pytest.raises(ReferenceError_, match="parameters lack"):
        params = _params()
        del params["U_o"]
        run_reference(spec, inputs, params)
    with pytest.raises(ReferenceError_, match="mode='fast'"):
        run_reference(spec, inputs, _params(), mode="fast")
    with pytest.raises(ReferenceError_, match=r"variant.peepholes: unknown feature; the spec declares \[.activations., .clip., .coupling., .direction."):
        run_reference(spec, inputs, _params(), variant={"peepholes": True})
    with pytest.raises(ReferenceError_, match="which variant {} does not use: the reference never ignores an input"):
        run_reference(spec, {**inputs, "seq_lengths": [1]}, _params())
    with pytest.raises(ReferenceError_, match=r"seq_lengths=\[2\], but should be B=1 integers in \[0, T=1\]"):
        run_reference(spec, {**inputs, "seq_lengths": [2]}, _params(), variant={"lengths": "zero_fill"})
    with pytest.raises(ReferenceError_, match=r"parameters lack \['W_i_reverse'"):
        run_reference(spec, {**inputs, "h0": [[[0.5]], [[0.5]]], "c0": [[[2.0]], [[2.0]]]}, _params(),
                      variant={"direction": "bidirectional"})


def test_list_ops_matvec_sums_explicitly():
    ops = ListOps(float, 0.0)
    assert ops.matvec([[1.0, 2.0], [3.0, 4.0]], [10.0, 1.0]) == [12.0, 34.0]
    assert ops.add([1.0, 2.0], 1.0) == [2.0, 3.0]
    with pytest.raises(ValueError, match="length mismatch"):
        ops.mul([1.0], [1.0, 2.0])


def _imports(package_dir: Path) -> set[str]:
    names = set()
    for path in package_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def test_reference_and_lstm_impl_never_import_each_other():
    ref_imports = _imports(ROOT / "lstm_conformance" / "reference")
    assert "numpy" not in ref_imports and "lstm_impl" not in ref_imports, ref_imports
    impl_imports = _imports(ROOT / "lstm_impl")
    assert "lstm_conformance" not in impl_imports, impl_imports
    # and at run time: loading the reference pulls in neither numpy nor lstm_impl
    code = ("import sys; import lstm_conformance.reference, lstm_conformance.spec.loader; "
            "bad = [m for m in ('numpy', 'lstm_impl') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    code = "import sys; import lstm_impl; sys.exit(1 if 'lstm_conformance' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def _flat(value):
    if isinstance(value, list):
        return [v for item in value for v in _flat(item)]
    return [value]


def test_decimal_mode_keeps_tiny_values_exact(spec):
    """tanh(1e-70) by the spec's (1 - exp(-2z)) / (1 + exp(-2z)) cancels 70 digits; the reference must not lose them."""
    params = _params(b_f=800.0, b_i=-800.0, b_o=800.0)  # f = o = 1, i = 0 to far beyond float64
    inputs = {"x": [[[0.0]]], "h0": [[0.0]], "c0": [[1e-70]]}
    out = run_reference(spec, inputs, params, mode="decimal")
    assert out["c_n"] == [[1e-70]]
    assert out["h_n"] == [[1e-70]]  # tanh(z) = z - z^3/3 + ...: 1e-70 to the last bit


# ---------------------------------------------------------------- the expression language's newer functions

@pytest.mark.parametrize("text, words", [
    ("where(z, 1, 2)", "where() needs a comparison as its first argument"),
    ("z >= 0", "a comparison is not allowed"),
    ("where(z >= 0, z >= 1, 2)", "a comparison is not allowed"),
    ("where(z >= 0 >= 1, z, 2)", "this comparison"),
])
def test_where_takes_a_comparison_first_and_nowhere_else(text, words):
    from lstm_conformance.spec.expressions import ExpressionError, parse_expression

    with pytest.raises(ExpressionError) as info:
        parse_expression(text)
    assert words in str(info.value)


@pytest.mark.parametrize("edit, words", [
    ("h: o * where(a_h >= 0, a_h)", "where() takes three arguments, got 2"),
    ("h: o * tanh(a_h) * mean(a_h, a_h)", "mean() takes one vector"),
    ("h: o * tanh(a_h) + mean(W_o)", "mean() takes one vector"),
])
def test_a_misused_new_function_is_refused_where_it_is(project_copy, edit, words):
    path = project_copy / "spec" / "lstm.yaml"
    path.write_text(path.read_text().replace("h: o * tanh(a_h)", edit))
    with pytest.raises(SpecError, match="step.equations.h") as info:
        load_spec(path)
    assert words in str(info.value)


def test_where_mean_sqrt_and_log_run_in_the_reference(project_copy, spec):
    """A mutated step that uses every newer function: h = o * leaky(a_h - mean(a_h)) / sqrt(1 + softplus(c)^2),
    against the same arithmetic in plain floats (decimal mode, rounded once)."""
    path = project_copy / "spec" / "lstm.yaml"
    path.write_text(path.read_text().replace(
        "h: o * tanh(a_h)",
        "h: o * where(a_h - mean(a_h) >= 0, a_h - mean(a_h), 0.25 * (a_h - mean(a_h)))"
        " / sqrt(1 + log(1 + exp(c)) * log(1 + exp(c)))"))
    mutated = load_spec(path)
    inputs = {"x": [[[0.5, -1.0]]], "h0": [[0.1, -0.2, 0.3]], "c0": [[1.0, -2.0, 0.5]]}
    rng = np.random.default_rng(3)
    params = {n: rng.uniform(-1, 1, s).tolist() for n, s in parameter_shapes(spec, {}, {"H": 3, "I": 2}).items()}
    out = run_reference(mutated, inputs, params)
    x, h0, c0 = (np.asarray(inputs[k], dtype=np.float64)[..., 0, :] if k == "x" else np.asarray(inputs[k])[0]
                 for k in ("x", "h0", "c0"))
    P = {k: np.asarray(v) for k, v in params.items()}
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    gate = {k: P[f"W_{k}"] @ x[0] + P[f"U_{k}"] @ h0 + P[f"b_{k}"] for k in "ifgo"}
    c = sig(gate["f"]) * c0 + sig(gate["i"]) * np.tanh(gate["g"])
    d = c - c.mean()
    h = sig(gate["o"]) * np.where(d >= 0, d, 0.25 * d) / np.sqrt(1 + np.log1p(np.exp(c)) ** 2)
    np.testing.assert_allclose(out["h_n"][0], h, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(out["c_n"][0], c, rtol=1e-13, atol=1e-15)
