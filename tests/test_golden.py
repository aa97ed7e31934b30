"""golden/: schema, manifest, coverage of the case list, and tools/regen_golden.py (--check)."""
from __future__ import annotations

import json
import re
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from lstm_conformance.cases import golden
from lstm_conformance.cases.golden import GoldenError, atomic_write, load_golden

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "golden"


def _regen(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "tools" / "regen_golden.py"), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)


def test_every_case_file_matches_the_json_schema(golden_cases):
    schema = json.loads((GOLDEN / "case.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    for case in golden_cases:
        errors = list(validator.iter_errors(case.record))
        assert not errors, f"{case.path}: {errors[0].message} at {list(errors[0].absolute_path)}"


def test_schema_rejects_a_string_number(golden_cases):
    schema = json.loads((GOLDEN / "case.schema.json").read_text())
    record = json.loads(json.dumps(golden_cases[0].record))
    record["expected"]["h_n"][0][0] = "0.5"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(record, schema)


def test_manifest_hashes_every_file_and_the_spec(spec, golden_cases):
    manifest = json.loads((GOLDEN / "manifest.json").read_text())
    assert manifest["spec"]["sha256"] == spec.sha256
    listed = set(manifest["cases"])
    on_disk = {p.stem for p in (GOLDEN / "cases").glob("*.json")}
    assert listed == on_disk == {c.id for c in golden_cases}
    for case in golden_cases:
        assert case.record["spec"] == {"version": spec.version, "sha256": spec.sha256}


def test_golden_folder_is_small():
    total = sum(p.stat().st_size for p in GOLDEN.rglob("*") if p.is_file())
    assert total < 5 * 1024 * 1024, total


def test_case_list_covers_the_bugs_it_must_catch(golden_cases):
    dims = [c.dims for c in golden_cases]
    flags = {f for c in golden_cases for f in c.flags}
    assert min(d["T"] for d in dims) == 1 and max(d["T"] for d in dims) >= 64
    assert any(d["H"] == 1 for d in dims) and any(d["I"] == 1 for d in dims)
    assert any(d["H"] != d["I"] for d in dims) and any(d["H"] == d["I"] for d in dims)
    assert sum(d["B"] > 1 for d in dims) >= len(dims) // 2
    assert {"saturating_50", "saturating_800", "large_cell", "full_precision_inputs"} <= flags
    assert max(c.record["stats"]["max_abs_preactivation"] for c in golden_cases) > 800
    assert max(c.record["stats"]["max_abs_c"] for c in golden_cases) > 10
    for case in golden_cases:
        h0, c0 = case.record["inputs"]["h0"], case.record["inputs"]["c0"]
        assert any(v != 0 for row in h0 for v in row) and any(v != 0 for row in c0 for v in row), case.id
        for role in "WUb":
            arrays = [json.dumps(case.record["params"][f"{role}_{g}"]) for g in "ifgo"
                      if f"{role}_{g}" in case.record["params"]]  # "cifg" has no input gate
            assert len(arrays) >= 3 and len(set(arrays)) == len(arrays), \
                f"{case.id}: the {role} arrays are not all different"


def test_float32_exact_cases_really_are(golden_cases):
    import numpy as np
    for case in golden_cases:
        exact = case.record["generator"]["exact_in"] == "float32"
        values = [np.asarray(v, dtype=np.float64) for k in ("inputs", "params") for v in case.record[k].values()]
        round_trips = all(np.array_equal(v.astype(np.float32).astype(np.float64), v) for v in values)
        assert round_trips == exact, case.id


@pytest.mark.slow
def test_regen_check_passes_on_the_committed_goldens():
    run = _regen("--check")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "reproduce exactly" in run.stdout


def test_regen_check_names_a_tampered_case(project_copy):
    path = project_copy / "golden" / "cases" / "base-T3-B2-I4-H5.json"
    text = path.read_text()
    record = json.loads(text)
    old = record["expected"]["c_n"][1][2]
    path.write_text(text.replace(repr(old), repr(old + 1e-9), 1))
    run = _regen("--check", "--golden-dir", str(project_copy / "golden"), "--cases", "base-T3-*", "--cases", "base-T1-*")
    assert run.returncode == 1, run.stdout + run.stderr
    assert f"DIFFERS  {path}: expected: 1 of " in run.stdout
    assert "max |diff| 1e-09" in run.stdout
    assert f"HASH     {path}" in run.stdout
    assert "of 2 checked" in run.stdout and "base-T1-B1-I1-H1" not in run.stdout


def test_regen_check_lists_missing_extra_and_manifest_problems(project_copy):
    cases = project_copy / "golden" / "cases"
    (cases / "base-T1-B1-I1-H1.json").unlink()
    (cases / "stray.json").write_text("{}")
    run = _regen("--check", "--golden-dir", str(project_copy / "golden"))
    assert run.returncode == 1
    assert f"MISSING  {cases / 'base-T1-B1-I1-H1.json'}" in run.stdout
    assert f"EXTRA    {cases / 'stray.json'}" in run.stdout
    assert "1 missing, 1 extra" in run.stdout


def test_editing_an_equation_fails_the_check_for_every_case(project_copy):
    spec_path = project_copy / "spec" / "lstm.yaml"
    spec_path.write_text(spec_path.read_text().replace("c: f * c_prev + i * g", "c: f * c_prev + i * g * 0.5"))
    run = _regen("--check", "--golden-dir", str(project_copy / "golden"), "--spec", str(spec_path))
    assert run.returncode == 1
    n = len(list((project_copy / "golden" / "cases").glob("*.json")))
    assert run.stdout.count("DIFFERS") == n
    assert "MANIFEST" in run.stdout and "spec sha256" in run.stdout


def test_regenerate_reproduces_the_committed_bytes_and_leaves_no_temp_files(project_copy):
    target = project_copy / "golden"
    for p in (target / "cases").glob("*.json"):
        p.unlink()
    golden.regenerate(target, jobs=2)
    for p in (GOLDEN / "cases").glob("*.json"):
        assert (target / "cases" / p.name).read_bytes() == p.read_bytes(), p.name
    assert (target / "manifest.json").read_bytes() == (GOLDEN / "manifest.json").read_bytes()
    leftovers = [p for p in target.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]
    assert not leftovers


def test_atomic_write_never_leaves_a_half_written_file(tmp_path, monkeypatch):
    path = tmp_path / "case.json"
    path.write_bytes(b"old content")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, b"new content that never lands")
    assert path.read_bytes() == b"old content"
    assert [p.name for p in tmp_path.iterdir()] == ["case.json"]


def test_the_runner_refuses_a_tampered_golden(project_copy, spec):
    path = project_copy / "golden" / "cases" / "base-T5-B3-I5-H3.json"
    path.write_text(path.read_text().replace('"T": 5', '"T": 5 '))
    with pytest.raises(GoldenError, match=r"base-T5-B3-I5-H3.json: sha256 .* does not match the manifest"):
        load_golden(project_copy / "golden", spec=spec)


def test_the_runner_refuses_goldens_made_from_another_spec(project_copy):
    from lstm_conformance.spec.loader import load_spec
    spec_path = project_copy / "spec" / "lstm.yaml"
    spec_path.write_text(spec_path.read_text() + "\n# an edit\n")
    with pytest.raises(GoldenError, match="made from a spec with sha256"):
        load_golden(project_copy / "golden", spec=load_spec(spec_path))


def test_conformance_cli_reports_a_tampered_golden_as_a_harness_error(project_copy):
    path = project_copy / "golden" / "cases" / "base-T5-B3-I5-H3.json"
    path.write_text(path.read_text().replace('"T": 5', '"T": 5 '))
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "conformance.py"), "--golden-dir", str(project_copy / "golden")],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "base-T5-B3-I5-H3.json" in run.stderr and "does not match the manifest" in run.stderr


@pytest.mark.parametrize("edit, words", [
    (lambda r: r["flags"].remove("zero_length_row"), "flag zero_length_row is missing, but the case's row lengths say"),
    (lambda r: r["inputs"].__setitem__("seq_lengths", [4, -3, 2]), "inputs.seq_lengths=[4, -3, 2], but should hold"),
    (lambda r: r["inputs"].__setitem__("seq_lengths", [9, 0, 2]), "but should hold integers in [0, T=4]"),
])
def test_row_lengths_and_their_flags_are_checked_not_trusted(project_copy, spec, edit, words):
    """A runner skips by the zero_length_row flag (declared empty-rows conventions): it must match the data."""
    cid = "len0-T4-B3-I2-H3"
    record = json.loads((project_copy / "golden" / "cases" / f"{cid}.json").read_text())
    edit(record)
    _rehash(project_copy, cid, record)
    with pytest.raises(GoldenError, match=re.escape(words)):
        load_golden(project_copy / "golden", spec=spec)


def test_case_schema_and_loader_know_the_case_list_flags(golden_cases):
    import re
    from lstm_conformance.cases.case_list import FLAG_TEXT
    schema = json.loads((GOLDEN / "case.schema.json").read_text())
    pattern = schema["properties"]["flags"]["items"]["pattern"]
    assert all(re.match(pattern, flag) for flag in FLAG_TEXT)
    assert {f for c in golden_cases for f in c.flags} <= set(FLAG_TEXT)


MANIFEST_BREAKS = [
    ("not-an-object", lambda m: [], "is list, but should be an object"),
    ("no-spec", lambda m: {k: v for k, v in m.items() if k != "spec"}, "spec should be an object with a sha256"),
    ("redirected-file", lambda m: {**m, "cases": {**m["cases"], "base-T3-B2-I4-H5": {
        **m["cases"]["base-T3-B2-I4-H5"], "file": "cases/base-T1-B1-I1-H1.json"}}}, "cases.base-T3-B2-I4-H5 is"),
]


@pytest.mark.parametrize("mutate, words", [b[1:] for b in MANIFEST_BREAKS], ids=[b[0] for b in MANIFEST_BREAKS])
def test_a_malformed_manifest_is_a_named_error_for_the_runner_and_check(project_copy, spec, mutate, words):
    path = project_copy / "golden" / "manifest.json"
    path.write_text(json.dumps(mutate(json.loads(path.read_text()))))
    with pytest.raises(GoldenError, match=words):
        load_golden(project_copy / "golden", spec=spec)
    run = _regen("--check", "--golden-dir", str(project_copy / "golden"))
    assert run.returncode == 1 and "MANIFEST" in run.stdout and words.split(" is")[0] in run.stdout, run.stdout


def test_a_manifest_edit_alone_fails_the_check(project_copy):
    path = project_copy / "golden" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["spec"]["version"] = "9.9.9"
    path.write_text(json.dumps(manifest, indent=1) + "\n")
    run = _regen("--check", "--golden-dir", str(project_copy / "golden"))
    assert run.returncode == 1 and "differs from the manifest a regeneration writes" in run.stdout


def _rehash(project_copy, case_id, record):
    import hashlib
    data = golden.dumps_case(record)
    (project_copy / "golden" / "cases" / f"{case_id}.json").write_bytes(data)
    mpath = project_copy / "golden" / "manifest.json"
    manifest = json.loads(mpath.read_text())
    manifest["cases"][case_id]["sha256"] = hashlib.sha256(data).hexdigest()
    mpath.write_text(json.dumps(manifest))


@pytest.mark.parametrize("edit, words", [
    (lambda r: r["inputs"].pop("x"), "inputs has ['c0', 'h0'], but variant {} has ['c0', 'h0', 'x'] (missing ['x']"),
    (lambda r: r["params"].__setitem__("W_i_l1", [[0.5]]), "params has ['U_f', "),
    (lambda r: r["flags"].append("no_such_flag"), "flags holds 'no_such_flag', which is not a known flag"),
    (lambda r: r["flags"].append("zero_length_row"), "flag zero_length_row is set, but the case's row lengths"),
    (lambda r: r["variant"].__setitem__("num_layers", 1), "variant.num_layers=1 is the default"),
    (lambda r: r["expected"]["y"].pop(), "expected.y.shape=(2, 2, 5), but should be (3, 2, 5)"),
    (lambda r: r.__setitem__("id", "other"), "id='other', but the manifest lists it as 'base-T3-B2-I4-H5'"),
])
def test_a_malformed_case_file_is_a_harness_error_not_the_implementations(project_copy, spec, edit, words):
    cid = "base-T3-B2-I4-H5"
    record = json.loads((project_copy / "golden" / "cases" / f"{cid}.json").read_text())
    edit(record)
    _rehash(project_copy, cid, record)
    with pytest.raises(GoldenError, match=re.escape(words)):
        load_golden(project_copy / "golden", spec=spec)


def test_check_with_a_pattern_matching_nothing_is_an_error():
    run = _regen("--check", "--cases", "no-such-case-*")
    assert run.returncode == 2 and "no case in" in run.stderr and "no-such-case-*" in run.stderr


def test_case_schema_names_no_lstm_array_the_loader_takes_them_from_the_spec(spec):
    text = (GOLDEN / "case.schema.json").read_text()
    for name in spec.input_names + spec.parameter_names + spec.output_names:
        assert f'"{name}"' not in text, f"the case schema hard-codes {name}; names come from spec/lstm.yaml"


def test_the_representative_subset_holds_every_variant_of_the_goldens():
    """CI judges the framework adapters on it: every feature family and combination the goldens hold, both
    empty-row rules, the base set, and no scaling case."""
    from lstm_conformance.cases.case_list import case_subsets
    from tests.conftest import ALL_IDS, GOLDEN_FLAGS, GOLDEN_VARIANTS

    subset = case_subsets()["representative"]
    assert set(subset) <= set(ALL_IDS) and len(set(subset)) == len(subset)
    assert {json.dumps(GOLDEN_VARIANTS[c], sort_keys=True) for c in subset} == \
        {json.dumps(v, sort_keys=True) for v in GOLDEN_VARIANTS.values()}
    assert {c for c in ALL_IDS if c.startswith("base-")} <= set(subset)
    assert any("zero_length_row" in GOLDEN_FLAGS[c] and not GOLDEN_VARIANTS[c].get("empty_rows") for c in subset)
    assert not [c for c in subset if c.startswith(("wide-", "long-"))]


@pytest.mark.parametrize("cid, arrays, flag", [
    ("act-hardsig-T6-B3-I3-H4", {"W": {"uniform": [-0.3, 0.3]}, "x": {"uniform": [-0.5, 0.5]}}, "crosses_breakpoints"),
    ("act-leaky-elu-T6-B3-I3-H4", {"W": {"uniform": [0.0, 0.1]}, "U": {"uniform": [0.0, 0.1]}, "b": {"uniform": [0.5, 1.0]},
                                   "x": {"uniform": [0.0, 1.0]}, "h0": {"uniform": [0.0, 0.9]}, "c0": {"uniform": [0.5, 2.0]}},
     "crosses_breakpoints"),
    ("proj-bias-clip-T6-B3-I3-H5-P3", {"W_proj": {"uniform": [-0.1, 0.1]}}, "clip_binds"),
])
def test_a_case_that_no_longer_keeps_its_flag_is_refused(spec, cid, arrays, flag):
    """crosses_breakpoints and clip_binds are checked on the generated case, not trusted: the same case with
    milder arrays (no pre-activation beyond HardSigmoid's breakpoints, none below LeakyRelu's and Elu's 0, no
    projected unit reaching proj_clip) is refused."""
    import dataclasses

    from lstm_conformance.cases.case_list import check_case, generate, load_case_list
    from lstm_conformance.reference.lstm import run_reference

    (case,) = [c for c in load_case_list(spec=spec) if c.id == cid]
    for c in (case, dataclasses.replace(case, arrays={**case.arrays, **arrays})):
        inputs, params = generate(c, spec)
        trace: list = []
        run_reference(spec, inputs, params, variant=c.variant, mode="float", trace=trace)
        problems = check_case(c, spec, inputs, params, trace)
        assert (problems == []) == (c is case), problems
        if c is not case:
            assert any(f"flag {flag} promises" in p for p in problems), problems
