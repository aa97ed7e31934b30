"""The spec loader: the real spec loads; broken specs fail with file, line, column and key path."""
from __future__ import annotations

from pathlib import Path

import pytest

from lstm_conformance.spec.loader import SpecError, load_spec


def test_real_spec_loads(spec):
    assert spec.version == "1.5.0"
    assert list(spec.equations) == ["z_i", "z_f", "z_g", "z_o", "a_i", "a_f", "a_g", "a_o", "i", "f", "g", "o", "c",
                                    "a_h", "h"]
    assert spec.parameter_names == ["W_i", "W_f", "W_g", "W_o", "U_i", "U_f", "U_g", "U_o", "b_i", "b_f", "b_g", "b_o"]
    assert spec.output_names == ["y", "h_n", "c_n"]
    assert spec.shape_of("inputs", "x", {"T": 3, "B": 2, "I": 4, "H": 5}) == (3, 2, 4)
    assert spec.shape_of("parameters", "U_g", {"T": 3, "B": 2, "I": 4, "H": 5}) == (5, 5)
    atol, rtol = spec.tolerance("float64")
    assert isinstance(atol, float) and 0 < atol <= 1e-9 and 0 < rtol <= 1e-9
    assert len(spec.sha256) == 64


def _mutated(project_copy: Path, old: str, new: str) -> Path:
    path = project_copy / "spec" / "lstm.yaml"
    text = path.read_text()
    assert old in text, f"{old!r} not in the spec: the test needs updating"
    path.write_text(text.replace(old, new, 1))
    return path


def _line_of(path: Path, needle: str) -> int:
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if needle in line:
            return n
    raise AssertionError(needle)


BROKEN = [
    # (id, old text, new text, words the message must contain, line needle or None)
    ("yaml-float-trap", "float32: {atol: 1.0e-5, rtol: 1.0e-5}", "float32: {atol: 1e-5, rtol: 1.0e-5}",
     ["tolerances.float32.atol", "'1e-5' is not of type 'number'", "write it with a dot and a signed exponent, e.g. 1.0e-5"], "float32: {atol: 1e-5"),
    ("duplicate-key", "  f: {description: forget gate, activation: sigmoid}\n",
     "  f: {description: forget gate, activation: sigmoid}\n  f: {description: again, activation: tanh}\n",
     ["gates.f", "duplicate key"], "f: {description: again"),
    ("invalid-yaml", "  g: tanh(a_g)", "  g: [tanh(a_g",
     ["invalid YAML"], None),
    ("unknown-top-key", "name: lstm\n", "name: lstm\ncolour: blue\n", ["Additional properties", "colour"], None),
    ("equation-attribute", "c: f * c_prev + i * g", "c: f.real * c_prev + i * g",
     ["step.equations.c", "Attribute is not allowed"], "c: f.real"),
    ("equation-import", "c: f * c_prev + i * g", "c: __import__('os').system('true')",
     ["step.equations.c", "not allowed"], "__import__"),
    ("equation-syntax", "c: f * c_prev + i * g", "c: f * * c_prev", ["step.equations.c", "cannot parse"], "c: f * * c_prev"),
    ("equation-undefined", "c: f * c_prev + i * g", "c: f * c_prev + i * gg", ["step.equations.c", "['gg'] not defined"], None),
    ("equation-cycle", "    a_i: z_i + b_i\n", "    a_i: z_i + b_i + i\n",
     ["step.equations", "the equations read each other in a cycle: i -> a_i -> i"], None),
    ("unknown-function", "h: o * tanh(a_h)", "h: o * softsine(a_h)", ["step.equations.h", "softsine"], None),
    ("unknown-activation", "g: {description: candidate cell (C-tilde), activation: tanh}",
     "g: {description: candidate cell (C-tilde), activation: swish}", ["gates.g.activation", "swish"], "activation: swish"),
    ("unknown-dimension", "W_i: {shape: [H, I], gate: i, role: input_weight}",
     "W_i: {shape: [H, K], gate: i, role: input_weight}", ["parameters.W_i.shape[1]", "unknown dimension 'K'"], None),
    ("gate-without-equation", "    o: sigmoid(a_o)\n", "",
     ["gates.o", "no equation"], None),
    ("missing-tolerance", "  float64: {atol: 1.0e-12, rtol: 1.0e-12}\n", "",
     ["tolerances", "'float64' is a required property"], None),
    ("empty-range", "{name: hidden_range, quantity: h, range: [-1.0, 1.0]}", "{name: hidden_range, quantity: h, range: [1.0, -1.0]}",
     ["invariants[4].range", "empty"], None),
    ("negative-tolerance", "    atol: 2.0e-2\n", "    atol: -2.0e-2\n",
     ["tolerances.float16.atol", "less than the minimum"], None),
    ("shape-mismatch", "z_i: W_i @ x_t + U_i @ h_prev", "z_i: W_i @ h_prev + U_i @ h_prev",
     ["step.equations.z_i", "@ of shapes (2, 3) and (2,)"], "z_i: W_i @ h_prev"),
    ("vector-times-matrix", "z_i: W_i @ x_t + U_i @ h_prev", "z_i: x_t @ W_i + U_i @ h_prev",
     ["step.equations.z_i", "@ of shapes (3,) and (2, 3)"], None),
    ("wrong-arity", "h: o * tanh(a_h)", "h: o * tanh(a_h, a_h)", ["step.equations.h", "tanh() takes one argument, got 2"], None),
    ("input-rank", "x: {shape: [T, B, I]", "x: {shape: [T, B, I, I]", ["step.equations.z_i", "@ of shapes (2, 3) and (3, 3)"], None),
    ("non-finite-constant", "c: f * c_prev + i * g", "c: f * c_prev + i * g * 1e400",
     ["step.equations.c", "non-finite constant inf"], None),
    ("holds-not-a-comparison", "holds: abs(c_n) <= abs(c0) + T", "holds: abs(c_n) + T",
     ["invariants[8].holds", "not a comparison, so it could never fail"], None),
    ("holds-unknown-name", "holds: abs(c_n) <= abs(c0) + T", "holds: abs(c_n) <= abs(c00) + T",
     ["invariants[8].holds", "['c00'] unknown here"], None),
    ("holds-unknown-function", "holds: abs(c_n) <= abs(c0) + T", "holds: abz(c_n) <= abs(c0) + T",
     ["invariants[8].holds", "unknown function(s) ['abz']"], None),
    ("gate-activation-mismatch", "g: tanh(a_g)", "g: sigmoid(a_g)",
     ["step.equations.g", "has activation 'tanh' in gates, but its equation applies sigmoid"], None),
    ("activation-foreign-name", "definition: 1 / (1 + exp(-z))", "definition: 1 / (1 + exp(-x))",
     ["activations.sigmoid.definition", "only its argument z"], None),
    ("disables-unknown-invariant", "disables: [hidden_range, output_range, final_hidden_range]",
     "disables: [hidden_range, output_rang, final_hidden_range]",
     ["features.proj_size.disables[1]", "'output_rang' is not an invariant of the spec"], None),
    # packings
    ("packing-unknown-parameter", 'weight_ih_l0: {shape: [4 * H, I], block: {stack_gates: "W_{gate}", axis: 0}}',
     'weight_ih_l0: {shape: [4 * H, I], block: {stack_gates: "V_{gate}", axis: 0}}',
     ["packings.torch.tensors.weight_ih_l0.block.stack_gates", "'V_i' is not a canonical parameter"], "V_{gate}"),
    ("packing-parameter-twice", 'bias_hh_l0: {shape: [4 * H], block: {extra: {stack_gates: "b_{gate}", axis: 0}}}',
     'bias_hh_l0: {shape: [4 * H], block: {stack_gates: "b_{gate}", axis: 0}}',
     ["packings.torch.tensors.bias_hh_l0.block", "b_i appears in both bias_ih_l0 and bias_hh_l0"], None),
    ("packing-parameter-missing", '      bias: {shape: [4 * H], block: {stack_gates: "b_{gate}", axis: 0}}\n  onnx:',
     "  onnx:", ["packings.keras.tensors", "no tensor holds ['b_i', 'b_f', 'b_g', 'b_o']"], None),
    ("packing-declared-shape", 'kernel: {shape: [I, 4 * H], block: {stack_gates: "W_{gate}.T", axis: 1}}',
     'kernel: {shape: [4 * H, I], block: {stack_gates: "W_{gate}.T", axis: 1}}',
     ["packings.keras.tensors.kernel.shape", "the block builds shape (3, 8)", "is (8, 3)"], "kernel: {shape: [4 * H, I]"),
    ("packing-bad-join", 'block: {concat: [U_i, W_i], axis: 1}', 'block: {concat: [U_i, W_i], axis: 0}',
     ["packings.concatenated_per_gate.tensors.W_seed_i.block", "cannot join shapes [(2, 17), (2, 3)] along axis 0"], None),
    ("packing-gate-order", "gate_order: [i, o, f, g]", "gate_order: [i, o, f, h]",
     ["packings.onnx.gate_order", "should be an ordering of the spec's gates"], None),
    ("packing-transpose-vector", "hi/bias: {shape: [H], block: b_i}", "hi/bias: {shape: [H], block: b_i.T}",
     ["packings.flax.tensors.hi/bias.block", "only a matrix can be transposed"], None),
    ("packing-gate-outside-stack", "ii/kernel: {shape: [I, H], block: W_i.T}", 'ii/kernel: {shape: [I, H], block: "W_{gate}.T"}',
     ["packings.flax.tensors.ii/kernel.block", "uses {gate} outside stack_gates"], None),
    ("packing-bad-dim-term", "W: {shape: [1, 4 * H, I]", "W: {shape: [1, 4 * H * I, I]",
     ["packings.onnx.tensors.W.shape[1]", "a term may name one dimension"], None),
    ("structure-names-collide", 'run: {forward: "", reverse: "_reverse"}', 'run: {forward: "", reverse: ""}',
     ["structure.names", "the templates must give every layer and run its own names"], None),
    ("structure-layer-without-index", 'layer: "_l{layer}"', 'layer: "_deep"',
     ["structure.names", "needs {layer}"], None),
]


@pytest.mark.parametrize("old,new,words,needle", [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_broken_spec_is_reported_with_location(project_copy, old, new, words, needle):
    path = _mutated(project_copy, old, new)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    assert info.value.line is not None, message
    if needle is not None:
        assert info.value.line == _line_of(path, needle), message
    assert f"{path}:{info.value.line}:{info.value.column}:" in message


def test_missing_spec_file(tmp_path):
    with pytest.raises(SpecError, match="cannot read the spec"):
        load_spec(tmp_path / "nope.yaml")


def test_spec_that_is_not_a_mapping(tmp_path):
    path = tmp_path / "lstm.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(SpecError, match="must be a mapping, got list"):
        load_spec(path)


def test_loader_never_constructs_python_objects(tmp_path):
    path = tmp_path / "lstm.yaml"
    path.write_text("spec: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(SpecError, match="invalid YAML"):
        load_spec(path)


def test_float_hint_asks_for_a_signed_exponent(project_copy):
    path = _mutated(project_copy, "float32: {atol: 1.0e-5", "float32: {atol: 1.0e5")
    with pytest.raises(SpecError, match=r"write it with a dot and a signed exponent, e\.g\. 1\.0e\+5"):
        load_spec(path)


def test_a_quoted_number_is_not_blamed_on_yaml(project_copy):
    path = _mutated(project_copy, "float32: {atol: 1.0e-5", "float32: {atol: '1.0e-5'")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert "'1.0e-5' is not of type 'number'" in str(info.value) and "YAML 1.1" not in str(info.value)
