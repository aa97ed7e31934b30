"""The spec's packings and the one generic converter: round trips, sums, run-time constants, errors."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

from lstm_conformance.packing.convert import ConversionError, from_packing, infer_dims, to_packing


def _params(spec, rng, H, I, dtype=np.float64):
    dims = {"H": H, "I": I}
    return {n: rng.standard_normal(spec.shape_of("parameters", n, dims)).astype(dtype) for n in spec.parameter_names}


PACKINGS = ["canonical", "concatenated_per_gate", "concatenated_per_gate_xh", "torch", "keras", "onnx", "tf1", "flax"]


def test_the_spec_names_every_packing_the_tests_cover(spec):
    assert sorted(spec.packings) == sorted(PACKINGS)


@pytest.mark.parametrize("packing", PACKINGS)
@given(H=st.integers(1, 6), I=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_round_trip(spec, packing, H, I, seed):
    params = _params(spec, np.random.default_rng(seed), H, I)
    tensors = to_packing(spec, packing, params)
    for name, tensor in spec.packings[packing].tensors.items():
        if tensor.when is not None:  # a cell feature's tensor (onnx's P): absent without that feature
            assert name not in tensors
            continue
        assert tensors[name].shape == tuple(_eval(d, H, I) for d in tensor.shape), f"{packing}.{name} [H={H} I={I}]"
    back = from_packing(spec, packing, tensors)
    assert list(back) == spec.parameter_names
    consts = spec.packings[packing].adds_at_run_time
    for name in spec.parameter_names:
        if name in consts:  # exported as b - c, imported as (b - c) + c: one rounding at most
            np.testing.assert_allclose(back[name], params[name], rtol=0, atol=4 * np.finfo(float).eps * (1 + abs(consts[name])))
        else:
            np.testing.assert_array_equal(back[name], params[name], err_msg=f"{packing}: {name}")


def _eval(d, H, I):
    from lstm_conformance.spec.loader import eval_dim
    return eval_dim(d, {"H": H, "I": I, "P": H})


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_dtype_is_preserved(spec, dtype):
    params = _params(spec, np.random.default_rng(0), 3, 2, dtype)
    for packing in PACKINGS:
        tensors = to_packing(spec, packing, params)
        assert {t.dtype for t in tensors.values()} == {np.dtype(dtype)}, packing
        assert {p.dtype for p in from_packing(spec, packing, tensors).values()} == {np.dtype(dtype)}, packing


def test_torch_blocks_sit_where_torch_reads_them(spec):
    """torch packs i, f, g, o along axis 0; bias_hh is exported as zeros."""
    H, I = 3, 2
    p = _params(spec, np.random.default_rng(1), H, I)
    t = to_packing(spec, "torch", p)
    for k, gate in enumerate("ifgo"):
        np.testing.assert_array_equal(t["weight_ih_l0"][k * H:(k + 1) * H], p[f"W_{gate}"])
        np.testing.assert_array_equal(t["weight_hh_l0"][k * H:(k + 1) * H], p[f"U_{gate}"])
        np.testing.assert_array_equal(t["bias_ih_l0"][k * H:(k + 1) * H], p[f"b_{gate}"])
    assert not t["bias_hh_l0"].any()


def test_onnx_and_tf1_orders_and_the_forget_bias(spec):
    H, I = 2, 3
    p = _params(spec, np.random.default_rng(2), H, I)
    onnx = to_packing(spec, "onnx", p)
    for k, gate in enumerate("iofg"):  # ONNX: i, o, f, c
        np.testing.assert_array_equal(onnx["W"][0, k * H:(k + 1) * H], p[f"W_{gate}"])
        np.testing.assert_array_equal(onnx["B"][0, k * H:(k + 1) * H], p[f"b_{gate}"])
    assert not onnx["B"][0, 4 * H:].any()
    tf1 = to_packing(spec, "tf1", p)
    for k, gate in enumerate("igfo"):  # TF1: i, j, f, o over [x; h]
        np.testing.assert_array_equal(tf1["kernel"][:I, k * H:(k + 1) * H], p[f"W_{gate}"].T)
        np.testing.assert_array_equal(tf1["kernel"][I:, k * H:(k + 1) * H], p[f"U_{gate}"].T)
    np.testing.assert_allclose(tf1["bias"][2 * H:3 * H], p["b_f"] - 1.0)  # TF1 adds forget_bias=1.0 back


def test_extra_copies_are_summed_on_import(spec):
    """torch's two biases and ONNX's Wb + Rb are added, whatever the split."""
    H, I = 2, 2
    p = _params(spec, np.random.default_rng(3), H, I)
    t = to_packing(spec, "torch", p)
    t["bias_hh_l0"] = np.arange(4 * H, dtype=float)
    t["bias_ih_l0"] = t["bias_ih_l0"] - t["bias_hh_l0"]
    back = from_packing(spec, "torch", t)
    for gate in "ifgo":
        np.testing.assert_allclose(back[f"b_{gate}"], p[f"b_{gate}"], atol=1e-15 * 8 * H)
    o = to_packing(spec, "onnx", p)
    o["B"] = np.concatenate([o["B"][:, :4 * H] / 2, o["B"][:, :4 * H] / 2], axis=1)
    np.testing.assert_allclose(from_packing(spec, "onnx", o)["b_o"], p["b_o"])


def test_dims_are_inferred_from_multiples_and_sums(spec):
    lay = spec.packings["tf1"]
    assert infer_dims(spec, {("tensor", "kernel"): (7, 8), ("tensor", "bias"): (8,)}, lay) == {"H": 2, "I": 5, "P": 2}


def test_wrong_shapes_are_named(spec):
    p = _params(spec, np.random.default_rng(4), 3, 2)
    t = to_packing(spec, "keras", p)
    t["recurrent_kernel"] = t["recurrent_kernel"][:, :-1]
    with pytest.raises(ConversionError, match=r"recurrent_kernel.shape=\(3, 11\)"):
        from_packing(spec, "keras", t)
    with pytest.raises(ConversionError, match=r"packing 'torch' needs tensors \['bias_hh_l0'\]"):
        t = to_packing(spec, "torch", p)
        del t["bias_hh_l0"]
        from_packing(spec, "torch", t)
    with pytest.raises(ConversionError, match=r"packing='mxnet', but the spec defines"):
        to_packing(spec, "mxnet", p)
    del p["U_g"]
    with pytest.raises(ConversionError, match=r"params lack \['U_g'\]"):
        to_packing(spec, "onnx", p)


def test_editing_the_spec_changes_the_converter(project_copy):
    """The gate order lives in the spec: edit it and the converter follows."""
    from lstm_conformance.spec.loader import load_spec
    path = project_copy / "spec" / "lstm.yaml"
    text = path.read_text()
    old = "    gate_order: [i, o, f, g]\n"
    assert old in text
    path.write_text(text.replace(old, "    gate_order: [i, f, g, o]\n"))
    spec = load_spec(path)
    p = _params(spec, np.random.default_rng(5), 2, 2)
    W = to_packing(spec, "onnx", p)["W"][0]
    np.testing.assert_array_equal(W[2:4], p["W_f"])


def test_the_onnx_peephole_tensor_holds_i_o_f_and_round_trips(spec):
    """A packing tensor that exists with its cell feature: onnx's P [1, 3H] holds p_i, p_o, p_f in that order."""
    params = _params(spec, np.random.default_rng(1), 3, 2)
    peep = {**params, "p_i": np.arange(3.0), "p_f": np.arange(3.0) + 10, "p_o": np.arange(3.0) + 20}
    tensors = to_packing(spec, "onnx", peep)
    np.testing.assert_array_equal(tensors["P"], [[0, 1, 2, 20, 21, 22, 10, 11, 12]])
    back = from_packing(spec, "onnx", tensors)
    assert list(back) == spec.parameter_names + ["p_i", "p_o", "p_f"]
    for name, value in peep.items():
        np.testing.assert_array_equal(back[name], value)
    with pytest.raises(ValueError, match="but not"):
        to_packing(spec, "onnx", {**params, "p_i": np.zeros(3)})


def test_torch_projection_round_trips_with_its_own_width(spec):
    """proj_size: weight_hh is (4H, P) and weight_hr_l0 (P, H) holds W_proj; P is read off them, not taken as H."""
    rng = np.random.default_rng(7)
    H, I, P = 4, 3, 2
    dims = {"H": H, "I": I, "P": P}
    params = {n: rng.standard_normal(spec.shape_of("parameters", n, dims)) for n in spec.parameter_names}
    params["W_proj"] = rng.standard_normal((P, H))
    tensors = to_packing(spec, "torch", params)
    assert tensors["weight_hh_l0"].shape == (4 * H, P) and tensors["weight_hr_l0"].shape == (P, H)
    np.testing.assert_array_equal(tensors["weight_hr_l0"], params["W_proj"])
    back = from_packing(spec, "torch", tensors)
    assert sorted(back) == sorted(params)
    for name in params:
        np.testing.assert_array_equal(back[name], params[name], err_msg=name)
