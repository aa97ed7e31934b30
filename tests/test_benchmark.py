"""The benchmark's peers are real LSTMs: the per-step class conforms, and uses the spec's concatenated layout."""
from __future__ import annotations

import numpy as np
import pytest

from lstm_conformance import bench_cli, benchmark
from lstm_conformance.compare import judge_case
from lstm_conformance.layout_convert import to_layout
from lstm_conformance.runner import case_arrays


def test_per_step_weights_follow_the_spec_concatenated_layout(spec, golden_cases):
    params = case_arrays(spec, golden_cases[0], "float64")[1]
    model = benchmark.PerStepLSTM(params)
    tensors = to_layout(spec, "concatenated_per_gate", params)
    for gate in spec.data["gates"]:
        np.testing.assert_array_equal(model.w_seed[gate], tensors[f"W_seed_{gate}"], err_msg=gate)
        np.testing.assert_array_equal(model.b[gate][:, 0], tensors[f"b_{gate}"], err_msg=gate)


@pytest.mark.parametrize("case_id", ["base-T3-B2-I4-H5", "sat-T6-B2-I3-H4-bias900", "cell-T64-B2-I3-H4-growth"])
def test_per_step_peer_conforms(spec, golden_cases, case_id):
    case = next(c for c in golden_cases if c.id == case_id)
    inputs, params = case_arrays(spec, case, "float64")
    y = benchmark.PerStepLSTM(params).forward_sequence(inputs["x"], inputs["h0"], inputs["c0"])
    # the class returns y only; h_n is y's last step and c_n is not exposed, so judge y
    judgement = judge_case(spec, case.record, "float64", (y, y[-1], np.asarray(case.record["expected"]["c_n"])))
    assert judgement.passed, judgement.reasons


def test_bench_cli_runs_a_tiny_size(capsys):
    code = bench_cli.main(["--size", "3,2,4,5", "--dtype", "float64", "--impl", "per-step",
                           "--repeats", "2", "--pause", "0"])
    out = capsys.readouterr().out
    assert code == 0
    rows = [line for line in out.splitlines() if line.startswith("| 3, 2, 4, 5")]
    assert [r.split("|")[3].strip() for r in rows] == ["lstm_impl", "per-step"], out
    assert float(rows[1].split("|")[6]) > 0  # a ratio was measured
    assert "verified (3, 2, 4, 5) float64" in out
