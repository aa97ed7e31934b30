"""The torch adapters over every golden case: which sequence structures torch runs, and that it runs them
as the spec says (issue 9).

`torch` (nn.LSTM) runs the base LSTM, bidirectional, stacked and rows with lengths (pack_padded_sequence);
torch has no reverse-only LSTM and refuses rows of length 0. `torch-cell` (nn.LSTMCell) runs the base LSTM
only: any other structure would be the adapter's own loop around the cell.

Skipped when torch is not installed, except under tox -e thirdparty (LSTM_REQUIRE_THIRDPARTY=1), where a
missing torch fails.
"""
from __future__ import annotations

import importlib.util
import os
import sys

import numpy as np
import pytest

from tests.conftest import ALL_IDS, BASE_IDS, GOLDEN_VARIANTS

from lstm_conformance.cases.golden import load_golden
from lstm_conformance.run.runner import run_conformance

# What torch.nn.LSTM has: written here, independently of the adapter's supports().
NN_LSTM_RUNS = {"direction": {"bidirectional"}, "num_layers": "any", "lengths": {"zero_fill"}, "proj_size": "any"}
TORCH_ZERO_LENGTH_WORDS = "Length of all samples has to be greater than 0"  # pack_padded_sequence's RuntimeError


def _require_torch():
    if importlib.util.find_spec("torch") is None and os.environ.get("LSTM_REQUIRE_THIRDPARTY") == "1":
        pytest.fail("torch is not installed, but tox -e thirdparty must run every adapter")
    return pytest.importorskip("torch", reason="torch is not installed (tox -e thirdparty installs it)")


def _nn_lstm_runs(variant: dict) -> bool:
    return all(k in NN_LSTM_RUNS and (NN_LSTM_RUNS[k] == "any" or v in NN_LSTM_RUNS[k]) for k, v in variant.items())


@pytest.fixture(scope="module")
def zero_length_ids(spec):
    """Golden cases with a row of length 0, read from the golden files' seq_lengths."""
    return sorted(c.id for c in load_golden(spec=spec)
                  if 0 in c.record["inputs"].get("seq_lengths", []))


def _by_status(result) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {"passed": set(), "failed": set(), "skipped": set(), "error": set()}
    for case in result.cases:
        out[case.status].add(case.id)
    return out


def test_the_goldens_hold_what_this_file_relies_on(zero_length_ids):
    """Not vacuous: the goldens have variants torch runs, ones it does not, and rows of length 0."""
    runs = [c for c in ALL_IDS if GOLDEN_VARIANTS[c] and _nn_lstm_runs(GOLDEN_VARIANTS[c])]
    assert any(GOLDEN_VARIANTS[c].get("direction") == "bidirectional" for c in runs)
    assert any("num_layers" in GOLDEN_VARIANTS[c] for c in runs)
    assert any("lengths" in GOLDEN_VARIANTS[c] for c in set(runs) - set(zero_length_ids))
    assert any(not _nn_lstm_runs(v) for v in GOLDEN_VARIANTS.values())
    assert zero_length_ids and set(zero_length_ids) & set(runs)


@pytest.mark.parametrize("impl", ["torch", "torch-batch-first"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_nn_lstm_over_every_golden_case(spec, dtype, zero_length_ids, impl):
    """torch-batch-first: nn.LSTM(batch_first=True), judged under the declared layout=batch_first."""
    _require_torch()
    result = run_conformance(impl, dtype=dtype, spec=spec)
    got = _by_status(result)
    reasons = {c.id: " ".join(c.reasons) for c in result.cases}
    runs = {c for c in ALL_IDS if _nn_lstm_runs(GOLDEN_VARIANTS[c])}
    refused = runs & set(zero_length_ids)  # skipped through the adapter's skip_case, with torch's words
    expected = {"passed": runs - refused, "failed": set(), "skipped": (set(ALL_IDS) - runs) | refused, "error": set()}
    assert {k: len(v) for k, v in got.items()} == {k: len(v) for k, v in expected.items()}, \
        {c: reasons[c] for k in got for c in got[k] ^ expected[k]}
    assert got == expected
    for cid in got["skipped"] - refused:
        assert "does not support variant" in reasons[cid], reasons[cid]
    for cid in refused:  # torch's own words
        assert "torch refuses rows of length 0" in reasons[cid] and TORCH_ZERO_LENGTH_WORDS in reasons[cid], \
            reasons[cid]
    want = ["layout=batch_first"] if impl == "torch-batch-first" else []
    assert {tuple(c.judged_under) for c in result.cases if c.status == "passed"} == {tuple(want)}


def test_batch_first_without_its_declaration_fails(spec):
    """The same nn.LSTM(batch_first=True) without conventions = {"layout": "batch_first"}: fed time-major x, it
    reads the batch as time, and torch refuses h0 or computes something else: no case passes (the declaration
    is what makes them pass)."""
    _require_torch()
    from lstm_adapters.torch_lstm import TorchBatchFirstLSTMAdapter

    adapter = TorchBatchFirstLSTMAdapter()
    adapter.conventions = {}
    ids = ["base-T3-B2-I4-H5", "bidir-T5-B3-I4-H6", "stack2-bidir-len-T5-B3-I3-H4"]
    result = run_conformance(adapter, dtype="float64", spec=spec, patterns=ids)
    assert sorted(c.id for c in result.cases) == sorted(ids)
    assert {c.status for c in result.cases} <= {"failed", "error"}, {c.id: c.reasons[:1] for c in result.cases}


def test_batch_first_keeps_the_states_layer_major():
    """torch's batch_first=True transposes x and y only: h0 and h_n stay (L * D, B, H) (the spec's
    derived_conventions.layout.batch_first, measured here)."""
    torch = _require_torch()
    torch.manual_seed(0)
    T, B, I, H = 4, 3, 2, 5
    tm = torch.nn.LSTM(I, H, num_layers=2, bidirectional=True, dtype=torch.float64)
    bf = torch.nn.LSTM(I, H, num_layers=2, bidirectional=True, batch_first=True, dtype=torch.float64)
    bf.load_state_dict(tm.state_dict())
    x, h0, c0 = (torch.randn(*s, dtype=torch.float64) for s in ((T, B, I), (4, B, H), (4, B, H)))
    with torch.no_grad():
        y, (h_n, c_n) = tm(x, (h0, c0))
        y_bf, (h_bf, c_bf) = bf(x.transpose(0, 1), (h0, c0))  # the same (L * D, B, H) states
    assert y_bf.shape == (B, T, 2 * H) and h_bf.shape == (4, B, H)
    assert torch.equal(y_bf.transpose(0, 1), y) and torch.equal(h_bf, h_n) and torch.equal(c_bf, c_n)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_nn_lstm_cell_runs_the_base_lstm_only(spec, dtype):
    _require_torch()
    result = run_conformance("torch-cell", dtype=dtype, spec=spec)
    got = _by_status(result)
    assert got == {"passed": set(BASE_IDS), "failed": set(), "skipped": set(ALL_IDS) - set(BASE_IDS),
                   "error": set()}, {c.id: c.reasons[:1] for c in result.cases if c.status != "passed"}


def test_swapped_direction_halves_fail_every_bidirectional_case(spec, monkeypatch):
    """The judge sees a torch adapter that loads the forward run's parameters into the reverse run."""
    _require_torch()
    import lstm_adapters.torch_lstm as torch_lstm

    rename = torch_lstm.torch_name
    monkeypatch.setattr(torch_lstm, "torch_name", lambda name, layer, reverse: rename(name, layer, not reverse))
    ids = [c for c in ALL_IDS if GOLDEN_VARIANTS[c].get("direction") == "bidirectional"
           and _nn_lstm_runs(GOLDEN_VARIANTS[c])]
    result = run_conformance(torch_lstm.TorchLSTMAdapter(), dtype="float64", spec=spec, patterns=ids)
    assert {c.status for c in result.cases if "len0" not in c.id} == {"failed"}, \
        {c.id: c.status for c in result.cases}


def test_torch_names_for_layers_and_runs():
    from lstm_adapters.torch_lstm import torch_name

    assert torch_name("weight_ih_l0", 0, False) == "weight_ih_l0"
    assert torch_name("bias_hh_l0", 2, True) == "bias_hh_l2_reverse"
    with pytest.raises(ValueError, match="_l0"):
        torch_name("kernel", 0, False)


def test_the_names_match_a_stacked_bidirectional_nn_lstm(spec):
    """Every tensor of nn.LSTM(num_layers=2, bidirectional=True) comes from the spec's parameters once."""
    torch = _require_torch()
    from lstm_adapters.torch_lstm import TorchLSTMAdapter
    from lstm_conformance.spec.variants import parameter_shapes

    variant = {"direction": "bidirectional", "num_layers": 2}
    rng = np.random.default_rng(0)
    params = {n: rng.standard_normal(s) for n, s in parameter_shapes(spec, variant, {"H": 3, "I": 2}).items()}
    lstm = torch.nn.LSTM(2, 3, num_layers=2, bidirectional=True, dtype=torch.float64)
    TorchLSTMAdapter()._load_structure(lstm, params, variant)  # load_state_dict(strict=True)
    assert torch.equal(lstm.weight_hh_l1_reverse[:3], torch.from_numpy(params["U_i_l1_reverse"]))
    assert torch.equal(lstm.weight_ih_l1[9:], torch.from_numpy(params["W_o_l1"]))  # i, f, g, o: o is last


def test_what_torch_does_with_packed_rows():
    """torch's conventions the adapter relies on, pinned on torch itself (see the module docstring)."""
    torch = _require_torch()
    rnn = torch.nn.utils.rnn
    torch.manual_seed(0)
    T, B, I, H = 6, 3, 2, 3
    lstm = torch.nn.LSTM(I, H, bidirectional=True, dtype=torch.float64)
    x = torch.randn(T, B, I, dtype=torch.float64)
    h0, c0 = torch.randn(2, B, H, dtype=torch.float64), torch.randn(2, B, H, dtype=torch.float64)
    lengths = torch.tensor([3, 6, 1])  # unsorted
    with torch.no_grad():
        out, (h_n, c_n) = lstm(rnn.pack_padded_sequence(x, lengths, enforce_sorted=False), (h0, c0))
        y, _ = rnn.pad_packed_sequence(out, total_length=T)
        assert y.shape == (T, B, 2 * H)
        for b, n in enumerate(lengths.tolist()):
            assert torch.equal(h_n[0, b], y[n - 1, b, :H]) and torch.equal(h_n[1, b], y[0, b, H:])
            assert bool((y[n:, b] == 0).all())  # exactly 0 past the row's length
            alone, (h_alone, c_alone) = lstm(x[:n, b:b + 1], (h0[:, b:b + 1], c0[:, b:b + 1]))  # the row, unpadded
            for got, want in ((y[:n, b], alone[:, 0]), (h_n[:, b], h_alone[:, 0]), (c_n[:, b], c_alone[:, 0])):
                torch.testing.assert_close(got, want, atol=1e-14, rtol=0)
        with pytest.raises(RuntimeError, match=TORCH_ZERO_LENGTH_WORDS):
            rnn.pack_padded_sequence(x, torch.tensor([3, 0, 1]), enforce_sorted=False)


def test_missing_torch_skips_variant_cases_with_install_advice(spec, monkeypatch):
    for name in list(sys.modules):
        if name == "torch" or name.startswith("torch."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "torch", None)  # import now raises ImportError
    from lstm_conformance.run.adapters import load_adapter

    result = run_conformance(load_adapter("torch"), dtype="float32", spec=spec,
                             patterns=["stack2-bidir-len-*", "bidir-T5-*"])
    assert len(result.cases) == 2
    for case in result.cases:
        assert case.status == "skipped" and "torch is not installed" in case.reasons[0], case.reasons
