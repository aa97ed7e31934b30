"""Golden case files: building, writing atomically, reading, and checking them.

Layout of golden/:
  case_list.yaml      the committed case list
  case.schema.json    JSON Schema of one case file
  manifest.json       SHA-256 of spec/lstm.yaml and of every case file
  cases/<id>.json     one case each
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from . import cases as case_list
from . import paths
from .reference import run_reference
from .spec_loader import Spec, load_spec

CASE_SCHEMA = "lstm-golden/1"
MANIFEST_SCHEMA = "lstm-golden-manifest/1"
CASES_DIR = "cases"
MANIFEST = "manifest.json"


class GoldenError(ValueError):
    """A golden file that is missing, malformed or does not match its manifest."""


# ---------------------------------------------------------------- building

def build_case(case: case_list.CaseDef, spec: Spec) -> dict:
    """The full golden record of one case: inputs drawn, outputs from the decimal reference."""
    inputs, params = case_list.generate(case, spec)
    trace: list[dict] = []
    run_reference(spec, inputs, params, variant=case.variant, mode="float", trace=trace)
    problems = case_list.check_case(case, spec, inputs, params, trace)
    if problems:
        raise GoldenError(f"case {case.id} breaks the case list's rules: " + "; ".join(problems))
    expected = run_reference(spec, inputs, params, variant=case.variant, mode="decimal")
    stats = {k: float(f"{v:.4g}") for k, v in case_list.case_stats(trace).items()}
    return {
        "schema": CASE_SCHEMA,
        "id": case.id,
        "comment": case.comment,
        "flags": case.flags,
        "spec": {"version": spec.version, "sha256": spec.sha256},
        "variant": case.variant,
        "dims": case.dims,
        "dtype": "float64",
        "generator": {"seed": case.seed, "exact_in": case.exact_in},
        "stats": stats,
        "inputs": inputs,
        "params": params,
        "expected": expected,
    }


def dumps_case(record: dict) -> bytes:
    """Canonical bytes: one top-level key a line, arrays compact, floats as repr (exact)."""
    lines = [f" {json.dumps(k)}: {json.dumps(v, separators=(', ', ': '), allow_nan=False)}" for k, v in record.items()]
    return ("{\n" + ",\n".join(lines) + "\n}\n").encode("utf-8")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file ordinary permissions
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _build_one(args: tuple[str, str, str]) -> tuple[str, bytes]:
    spec_path, list_path, case_id = args
    spec = load_spec(spec_path)
    case = next(c for c in case_list.load_case_list(list_path, spec) if c.id == case_id)
    return case_id, dumps_case(build_case(case, spec))


def build_all(spec: Spec, defs: Sequence[case_list.CaseDef], list_path: Path, jobs: int | None = None) -> dict[str, bytes]:
    """Bytes of every case file, built in parallel processes (one per core)."""
    jobs = jobs or os.cpu_count() or 1
    work = [(str(spec.path), str(list_path), c.id) for c in defs]
    # biggest first, so the pool stays busy
    work.sort(key=lambda w: -_cost(next(c for c in defs if c.id == w[2])))
    if jobs == 1:
        return dict(map(_build_one, work))
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return dict(pool.map(_build_one, work))


def _cost(case: case_list.CaseDef) -> int:
    d = case.dims
    return d["T"] * d["B"] * d["H"] * (d["I"] + d["H"])


def manifest_bytes(spec: Spec, files: dict[str, bytes]) -> bytes:
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "spec": {"file": "spec/lstm.yaml", "version": spec.version, "sha256": spec.sha256},
        "cases": {cid: {"file": f"{CASES_DIR}/{cid}.json", "sha256": sha256_bytes(data)}
                  for cid, data in sorted(files.items())},
    }
    return (json.dumps(manifest, indent=1) + "\n").encode("utf-8")


# ---------------------------------------------------------------- regenerate and check

@dataclass
class CheckResult:
    """What --check found; `ok` when nothing."""

    differs: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    bad_hash: list[str] = field(default_factory=list)
    manifest: list[str] = field(default_factory=list)
    checked: int = 0

    @property
    def ok(self) -> bool:
        return not (self.differs or self.missing or self.extra or self.bad_hash or self.manifest)

    def lines(self) -> list[str]:
        out = [f"DIFFERS  {m}" for m in self.differs] + [f"MISSING  {m}" for m in self.missing]
        out += [f"EXTRA    {m}" for m in self.extra] + [f"HASH     {m}" for m in self.bad_hash]
        out += [f"MANIFEST {m}" for m in self.manifest]
        return out


def _select(defs: Sequence[case_list.CaseDef], patterns: Sequence[str] | None) -> list[case_list.CaseDef]:
    if not patterns:
        return list(defs)
    return [c for c in defs if any(fnmatch.fnmatchcase(c.id, p) for p in patterns)]


def regenerate(golden_dir: Path | None = None, spec_path: Path | None = None, jobs: int | None = None) -> list[str]:
    """Rewrite every case file and the manifest; remove case files no longer listed."""
    golden_dir = Path(golden_dir or paths.golden_dir())
    spec = load_spec(spec_path)
    list_path = golden_dir / "case_list.yaml"
    defs = case_list.load_case_list(list_path, spec)
    files = build_all(spec, defs, list_path, jobs)
    cases_dir = golden_dir / CASES_DIR
    # Each file is written whole to a temporary name and renamed (never half-written);
    # all are built before the first rename and the manifest goes last, so an
    # interruption leaves at worst a mix that --check and the runner both refuse.
    for cid, data in sorted(files.items()):
        atomic_write(cases_dir / f"{cid}.json", data)
    removed = []
    for stale in sorted(cases_dir.glob("*.json")):
        if stale.stem not in files:
            stale.unlink()
            removed.append(stale.name)
    atomic_write(golden_dir / MANIFEST, manifest_bytes(spec, files))
    return removed


def check(golden_dir: Path | None = None, spec_path: Path | None = None, patterns: Sequence[str] | None = None,
          jobs: int | None = None) -> CheckResult:
    """Recompute the selected cases and compare with the files; write nothing."""
    golden_dir = Path(golden_dir or paths.golden_dir())
    spec = load_spec(spec_path)
    list_path = golden_dir / "case_list.yaml"
    defs = case_list.load_case_list(list_path, spec)
    chosen = _select(defs, patterns)
    if not chosen:
        raise GoldenError(f"no case in {list_path} matches {list(patterns or [])}; ids are {[c.id for c in defs]}")
    result = CheckResult(checked=len(chosen))
    cases_dir = golden_dir / CASES_DIR
    try:
        manifest = _read_manifest(golden_dir)
    except GoldenError as exc:
        manifest = {"cases": {}}
        result.manifest.append(str(exc))
    mspec = manifest.get("spec", {})
    if not result.manifest and mspec.get("sha256") != spec.sha256:
        result.manifest.append(f"{golden_dir / MANIFEST}: spec sha256 {mspec.get('sha256')} != {spec.sha256} of {spec.path}")
    listed = {c.id for c in defs}
    if not patterns:
        for path in sorted(cases_dir.glob("*.json")):
            if path.stem not in listed:
                result.extra.append(f"{path}: not in {list_path}")
        for cid in sorted(set(manifest.get("cases", {})) - listed):
            result.manifest.append(f"{golden_dir / MANIFEST}: lists {cid}, which is not in {list_path}")
    fresh = build_all(spec, chosen, list_path, jobs)
    for case in chosen:
        path = cases_dir / f"{case.id}.json"
        if not path.is_file():
            result.missing.append(f"{path}")
            continue
        data = path.read_bytes()
        entry = manifest.get("cases", {}).get(case.id)
        if entry is None:
            result.manifest.append(f"{golden_dir / MANIFEST}: has no entry for {case.id}")
        elif entry.get("sha256") != sha256_bytes(data):
            result.bad_hash.append(f"{path}: sha256 {sha256_bytes(data)[:16]}… but manifest says {str(entry.get('sha256'))[:16]}…")
        if data != fresh[case.id]:
            result.differs.append(f"{path}: {describe_difference(data, fresh[case.id])}")
    if not patterns and not result.manifest:
        try:
            on_disk = (golden_dir / MANIFEST).read_bytes()
        except OSError:
            on_disk = b""
        if on_disk != manifest_bytes(spec, fresh):
            result.manifest.append(f"{golden_dir / MANIFEST}: differs from the manifest a regeneration writes")
    return result


def describe_difference(old: bytes, new: bytes) -> str:
    """Which keys differ, how many numbers, and the largest absolute difference."""
    try:
        a, b = json.loads(old), json.loads(new)
    except ValueError as exc:
        return f"not valid JSON ({exc})"
    parts = []
    for key in sorted(set(a) | set(b)):
        if json.dumps(a.get(key)) == json.dumps(b.get(key)):  # json, not ==: -0.0 == 0.0
            continue
        xs, ys = list(_flatten(a.get(key))), list(_flatten(b.get(key)))
        if len(xs) != len(ys) or not all(isinstance(v, (int, float)) for v in xs + ys):
            parts.append(f"{key} differs")
            continue
        diffs = [abs(x - y) for x, y in zip(xs, ys) if repr(x) != repr(y)]
        zeros = sum(1 for x, y in zip(xs, ys) if x == y and repr(x) != repr(y))
        note = f" ({zeros} only in the sign of zero)" if zeros else ""
        parts.append(f"{key}: {len(diffs)} of {len(xs)} numbers differ{note}, max |diff| {max(diffs):.3g}")
    return "; ".join(parts) or "bytes differ (formatting)"


def _flatten(value: Any) -> Iterable[Any]:
    if isinstance(value, dict):
        for k in sorted(value):
            yield from _flatten(value[k])
    elif isinstance(value, list):
        for v in value:
            yield from _flatten(v)
    else:
        yield value


# ---------------------------------------------------------------- reading

@dataclass
class GoldenCase:
    """One case file as loaded for a conformance run (nested lists, float64 values)."""

    id: str
    path: Path
    record: dict

    @property
    def dims(self) -> dict[str, int]:
        return self.record["dims"]

    @property
    def variant(self) -> dict:
        return self.record["variant"]

    @property
    def flags(self) -> list[str]:
        return self.record.get("flags", [])


_VALIDATED: set[tuple] = set()  # (file sha256, id, spec sha256, golden dir) of records that passed


def _read_manifest(golden_dir: Path) -> dict:
    """The manifest, checked for the structure the runner relies on."""
    manifest_path = golden_dir / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise GoldenError(f"{manifest_path}: cannot read the manifest: {exc.strerror}") from None
    except ValueError as exc:
        raise GoldenError(f"{manifest_path}: not valid JSON: {exc}") from None
    if not isinstance(manifest, dict):
        raise GoldenError(f"{manifest_path}: is {type(manifest).__name__}, but should be an object")
    if manifest.get("schema") != MANIFEST_SCHEMA:
        raise GoldenError(f"{manifest_path}: schema={manifest.get('schema')!r}, but should be {MANIFEST_SCHEMA!r}")
    spec_entry = manifest.get("spec")
    if not (isinstance(spec_entry, dict) and isinstance(spec_entry.get("sha256"), str)):
        raise GoldenError(f"{manifest_path}: spec should be an object with a sha256, got {spec_entry!r}")
    cases = manifest.get("cases")
    if not isinstance(cases, dict):
        raise GoldenError(f"{manifest_path}: cases should be an object id -> {{file, sha256}}, got {type(cases).__name__}")
    for cid, entry in cases.items():
        want = f"{CASES_DIR}/{cid}.json"
        if not (isinstance(entry, dict) and entry.get("file") == want and isinstance(entry.get("sha256"), str)):
            raise GoldenError(f"{manifest_path}: cases.{cid} is {entry!r}, but should be "
                              f"{{\"file\": \"{want}\", \"sha256\": ...}}")
    return manifest


def load_golden(golden_dir: Path | None = None, patterns: Sequence[str] | None = None,
                spec: Spec | None = None, verify: bool = True) -> list[GoldenCase]:
    """Load the selected case files, verifying them against the manifest and the spec."""
    golden_dir = Path(golden_dir or paths.golden_dir())
    manifest_path = golden_dir / MANIFEST
    manifest = _read_manifest(golden_dir)
    if verify and spec is not None and manifest["spec"]["sha256"] != spec.sha256:
        raise GoldenError(f"{manifest_path}: the goldens were made from a spec with sha256 {manifest['spec']['sha256'][:16]}…, "
                          f"but {spec.path} has {spec.sha256[:16]}…; run `python tools/regen_golden.py`")
    out = []
    for cid, entry in manifest["cases"].items():
        if patterns and not any(fnmatch.fnmatchcase(cid, p) for p in patterns):
            continue
        path = golden_dir / entry["file"]
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise GoldenError(f"{path}: cannot read case {cid}: {exc.strerror}") from None
        digest = sha256_bytes(data)
        if verify and digest != entry["sha256"]:
            raise GoldenError(f"{path}: sha256 {digest[:16]}… does not match the manifest's "
                              f"{entry['sha256'][:16]}… (edited by hand? regenerate with tools/regen_golden.py)")
        try:
            record = json.loads(data)
        except ValueError as exc:
            raise GoldenError(f"{path}: not valid JSON: {exc}") from None
        key = (digest, cid, spec.sha256 if spec else None, str(path.parent.parent))
        if key not in _VALIDATED:  # schema validation is the slow part; same bytes, same verdict
            _check_record(record, path, cid, spec)
            _VALIDATED.add(key)
        out.append(GoldenCase(cid, path, record))
    if patterns and not out:
        raise GoldenError(f"no golden case matches {list(patterns)}; cases are {sorted(manifest['cases'])}")
    return out


def case_schema(golden_dir: Path | None = None) -> dict:
    return json.loads((Path(golden_dir or paths.golden_dir()) / "case.schema.json").read_text(encoding="utf-8"))


def _check_record(record: Any, path: Path, case_id: str, spec: Spec | None) -> None:
    """The record against golden/case.schema.json, and its arrays against the spec's shapes."""
    import jsonschema

    errors = sorted(jsonschema.Draft202012Validator(case_schema(path.parent.parent)).iter_errors(record),
                    key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        where = ".".join(map(str, errors[0].absolute_path)) or "(top level)"
        raise GoldenError(f"{path}: {where}: {errors[0].message[:200]} (golden/case.schema.json)")
    if record["id"] != case_id:
        raise GoldenError(f"{path}: id={record['id']!r}, but the manifest lists it as {case_id!r}")
    if spec is None:
        return
    dims = record["dims"]
    for key, kind in (("inputs", "inputs"), ("params", "parameters"), ("expected", "outputs")):
        for name in spec.data[kind]:
            if name not in record[key]:
                raise GoldenError(f"{path}: {key}.{name} is missing")
            shape = _nested_shape(record[key][name])
            want = spec.shape_of(kind, name, dims)
            if shape != want:
                raise GoldenError(f"{path}: {key}.{name}.shape={shape}, but should be {want} [dims {dims}]")


def _nested_shape(value: Any) -> tuple[int, ...] | None:
    """Shape of a nested list, or None if it is ragged."""
    if not isinstance(value, list):
        return ()
    inner = {_nested_shape(v) for v in value}
    if len(inner) > 1 or None in inner:
        return None
    return (len(value),) + (inner.pop() if inner else ())
