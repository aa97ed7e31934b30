"""The benchmark's peers are real LSTMs: the per-step class conforms, and uses the spec's concatenated packing."""
from __future__ import annotations

import numpy as np
import pytest

from lstm_conformance.cli import bench as bench_cli

from lstm_conformance import benchmark
from lstm_conformance.judge.compare import judge_case
from lstm_conformance.packing.convert import to_packing
from lstm_conformance.run.runner import case_arrays


def test_per_step_weights_follow_the_spec_concatenated_packing(spec, golden_cases):
    params = case_arrays(spec, golden_cases[0], "float64")[1]
    model = benchmark.PerStepLSTM(params)
    tensors = to_packing(spec, "concatenated_per_gate", params)
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


def test_gemm_floor_runs_the_design_s_products(spec, golden_cases):
    """The gemms row times real products: its result is U_all @ h0^T."""
    inputs, params = case_arrays(spec, golden_cases[0], "float64")
    out = benchmark.gemm_floor_runner(params, np.dtype("float64"))(inputs["x"], inputs["h0"], inputs["c0"])
    u_all = np.concatenate([params[f"U_{k}"] for k in "ifgo"], axis=0)  # (4H, H)
    np.testing.assert_allclose(out, u_all @ inputs["h0"].T, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_gemm_floor_does_the_same_arithmetic_as_lstm_impl(monkeypatch, dtype):
    """The floor makes the unfused design's GEMMs (issue 11's yardstick), lstm_impl the fused step GEMMs:
    the same multiply-adds, in the same compute dtype."""
    params, X, h0, c0 = benchmark.make_case((5, 3, 4, 6), dtype, seed=1)
    model = benchmark.LSTM.from_params(params)
    floor = benchmark.gemm_floor_runner(params, model.compute_dtype)
    real_matmul = np.matmul
    calls: list[tuple] = []

    def recording(a, b, *args, **kwargs):
        calls.append((np.shape(a), np.shape(b), np.result_type(a, b).name))
        return real_matmul(a, b, *args, **kwargs)

    monkeypatch.setattr(np, "matmul", recording)
    model.forward_sequence(X, h0, c0)
    impl_calls, calls[:] = list(calls), []
    floor(X, h0, c0)
    monkeypatch.undo()
    compute = "float32" if dtype == "float16" else dtype
    assert impl_calls == [((24, 11), (11, 3), compute)] * 5  # [U | W | b] (4H, H+I+1) @ [h; x; 1], T times
    assert calls[0] == ((24, 5), (5, 15), compute)  # W_aug (4H, I+1) @ [X | 1]^T (I+1, T*B)
    assert calls[1:] == [((24, 6), (6, 3), compute)] * 5  # U_all (4H, H) @ h^T, T times

    def madds(shapes):
        return sum(a[0] * a[1] * b[1] for a, b, _ in shapes)

    assert madds(calls) == madds(impl_calls) == 5 * 24 * 11 * 3


def test_bench_cli_prints_the_gemm_floor_without_verifying_it(capsys):
    code = bench_cli.main(["--size", "3,2,4,5", "--dtype", "float32", "--impl", "gemms",
                           "--repeats", "2", "--pause", "0"])
    out = capsys.readouterr().out
    assert code == 0
    rows = [line.split("|") for line in out.splitlines() if line.startswith("| 3, 2, 4, 5")]
    assert [r[3].strip() for r in rows] == ["lstm_impl", "gemms"], out
    assert rows[1][7].strip() == "-" and "not an LSTM" in rows[1][8], out
    assert "verified (3, 2, 4, 5) float32: lstm_impl 0.0e+00" in out
    assert "gemms" not in out.split("verified")[1].splitlines()[0]


def _row(impl, ms, size=(100, 32, 64, 128), dtype="float32"):
    return benchmark.Row(size, dtype, impl, [ms / 1e3], 0.0, ratio=None)


def test_a_missed_target_says_what_the_gemms_leave():
    rows = [_row("lstm_impl", 10.0), _row("torch", 9.0), _row("gemms", 6.0)]
    for r in rows:
        r.ratio = r.median_ms / 10.0
    lines, all_met = benchmark.target_lines(rows)
    assert not all_met
    assert len(lines) == 2, lines  # float32: no torch target at this size, only the gemms one
    assert lines[0].split() == ("NOT met gemms (100, 32, 64, 128) float32: want lstm_impl <= 1.4x gemms's time; "
                                "ratio gemms/lstm_impl = 0.60 (lstm_impl/gemms = 1.67)").split()
    # 1.4x the GEMMs allows 8.4 ms; the GEMMs take 6.0, leaving 2.4 ms = 24.0 us per step of T = 100
    assert lines[1].split() == (
        "the GEMMs alone take 6.00 ms of the 8.40 ms the target allows, leaving 2.40 ms "
        "(24.0 us per step); everything else (gate math, copies) takes 4.00 ms now").split()


def test_float64_torch_target_and_gemms_over_budget():
    # torch 12 ms at 0.9x allows 10.8 ms; GEMMs 13 ms leave nothing
    rows = [_row("lstm_impl", 16.0, dtype="float64"), _row("torch", 12.0, dtype="float64"),
            _row("gemms", 13.0, dtype="float64"), _row("per-step", 80.0, dtype="float64")]
    for r in rows:
        r.ratio = r.median_ms / 16.0
    lines, all_met = benchmark.target_lines(rows)
    assert not all_met and lines[0].startswith("met      gemms") and lines[1].startswith("NOT met  torch")
    assert "want lstm_impl <= 0.9x torch's time; ratio torch/lstm_impl = 0.75" in lines[1]
    assert lines[2].split() == (
        "the GEMMs alone take 13.00 ms, more than the 10.80 ms the target allows; "
        "everything else (gate math, copies) takes 3.00 ms now").split()
    assert len(lines) == 3  # the retired per-step target is not evaluated
    rows[1].times, rows[1].ratio = [0.02], 20.0 / 16.0  # torch 20 ms: 18 ms allowed
    lines, all_met = benchmark.target_lines(rows)
    assert all_met and len(lines) == 2 and lines[1].startswith("met      torch")


def test_b1_rows_report_the_time_per_step_besides_the_gemms():
    size = (64, 1, 32, 64)
    rows = [_row("lstm_impl", 0.40, size), _row("torch", 0.50, size), _row("gemms", 0.24, size)]
    for r in rows:
        r.ratio = r.median_ms / 0.40
    lines, all_met = benchmark.target_lines(rows)
    assert all_met and lines[0].startswith("met      torch") and "want lstm_impl <= 1x torch's time" in lines[0]
    # (0.40 - 0.24) ms over 64 steps = 2.5 us per step
    assert lines[1].split() == "info B = 1 (64, 1, 32, 64) float32: lstm_impl takes 2.5 us per step besides " \
                               "the GEMMs".split()
    rows[1].times, rows[1].ratio = [0.3e-3], 0.3 / 0.40
    lines, all_met = benchmark.target_lines(rows)
    assert not all_met and lines[0].startswith("NOT met  torch")


# --------------------------------------------------------------------------- issue 11: features and memory
def _frow(name, ms, refs, ref_ms, limit, dtype="float64"):
    return benchmark.FeatureRow(name, dtype, ms, refs, ref_ms, limit)


def test_feature_rows_compare_each_feature_with_the_sum_of_its_references():
    medians = {"base": 10.0, "base l1": 12.0, "bidirectional": 20.5, "stack L=2": 23.5, "lengths": 11.5,
               "peephole": 13.0, "layer_norm": 13.1}
    rows = {r.name: r for r in benchmark.feature_rows(medians, "float32")}
    assert set(rows) == {"bidirectional", "stack L=2", "lengths", "peephole", "layer_norm"}  # others not run
    assert rows["bidirectional"].ratio == pytest.approx(2.05) and rows["bidirectional"].met
    assert rows["stack L=2"].reference == ("base", "base l1") and rows["stack L=2"].reference_ms == 22.0
    assert rows["stack L=2"].ratio == pytest.approx(23.5 / 22.0) and not rows["stack L=2"].met  # > 1.05
    assert not rows["lengths"].met and rows["lengths"].limit == 1.1
    assert rows["peephole"].met and not rows["layer_norm"].met  # 1.30 passes, 1.31 misses
    assert all(r.dtype == "float32" for r in rows.values())


def test_feature_table_prints_ratio_target_and_pass_or_miss():
    table = benchmark.format_feature_table([_frow("peephole", 13.0, ("base",), 10.0, 1.3),
                                            _frow("stack L=2", 23.5, ("base", "base l1"), 22.0, 1.05)])
    lines = [line.split("|")[1:-1] for line in table.splitlines()[2:]]
    assert [c.strip() for c in lines[0]] == ["peephole", "float64", "13.00", "base", "10.00", "1.30", "<= 1.30",
                                             "PASS"]
    assert [c.strip() for c in lines[1]] == ["stack L=2", "float64", "23.50", "base + base l1", "22.00", "1.07",
                                             "<= 1.05", "MISS"]


def test_feature_runners_run_every_case_at_a_tiny_size():
    runners = benchmark.feature_runners((3, 2, 4, 6), "float32")
    assert set(runners) == {"base", "base l1"} | {c[0] for c in benchmark.FEATURE_CASES}
    shapes = {name: run().shape for name, run in runners.items()}
    assert shapes["base"] == shapes["lengths"] == shapes["peephole"] == (3, 2, 6)
    assert shapes["bidirectional"] == (3, 2, 12) and shapes["proj_size"] == (3, 2, 3)
    times = benchmark.time_interleaved({"base": runners["base"]}, repeats=2)
    assert len(times["base"]) == 2 and min(times["base"]) > 0


def test_features_cli_prints_the_table(capsys):
    code = bench_cli.main(["--features", "--feature-size", "3,2,4,6", "--dtype", "float64", "--repeats", "1"])
    out = capsys.readouterr().out
    assert code == 0
    names = [line.split("|")[1].strip() for line in out.splitlines() if line.startswith("| ")][1:]
    assert names == [c[0] for c in benchmark.FEATURE_CASES]
    assert all(("PASS" in line or "MISS" in line) for line in out.splitlines() if line.startswith("| ")
               and "float64" in line)


def test_memory_cli_prints_the_table_and_refuses_float16(capsys):
    code = bench_cli.main(["--memory", "--memory-size", "4,8,16", "--t-short", "100", "--t-long", "1000",
                           "--dtype", "float64"])
    out = capsys.readouterr().out
    assert code == 0
    rows = [line for line in out.splitlines() if line.startswith("| 4, 8, 16")]
    assert len(rows) == 4 and sum("PASS" in r for r in rows) == 2, out  # base and features, short and long
    with pytest.raises(SystemExit):
        bench_cli.main(["--memory", "--dtype", "float16"])
    assert "--dtype float16 is for the comparison only" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench_cli.main(["--memory", "--memory-size", "2,3"])
    assert "size '2,3', but should be B,I,H (3 positive ints)" in capsys.readouterr().err


def test_memory_pairs_logic():
    short = benchmark.MemoryRow((200, 4, 8, 16), "float64", "base", 1000, 400)
    assert benchmark.memory_pairs(short, benchmark.MemoryRow((2000, 4, 8, 16), "float64", "base", 4600, 4000)) \
        == (1.0, True)
    grown = benchmark.MemoryRow((2000, 4, 8, 16), "float64", "base", 4700, 4000)  # extra 700 > 1.1 * 600
    ratio, ok = benchmark.memory_pairs(short, grown)
    assert not ok and ratio == pytest.approx(700 / 600)
    table = benchmark.format_memory_table([(short, grown)])
    assert "MISS" in table and "1.17" in table


@pytest.mark.parametrize("variant", [None, {"layer_norm": True, "peephole": True, "proj_size": 5},
                                     {"direction": "reverse"}], ids=["base", "features", "reverse"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_working_memory_does_not_grow_with_t(variant, dtype):
    """A memory test (tracemalloc), not a timed one: the peak besides the outputs is O(B*(H+I)), not O(T)."""
    short = benchmark.working_memory((100, 4, 8, 16), dtype, variant)
    long = benchmark.working_memory((1000, 4, 8, 16), dtype, variant)
    assert long.outputs > 9 * short.outputs
    assert long.extra <= benchmark.MEMORY_SLACK * short.extra, (short, long)
