"""Golden case files: building, writing atomically, reading, and checking them.

Files in golden/:
  case_list.yaml      the committed case list
  case.schema.json    JSON Schema of one case file
  manifest.json       SHA-256 of spec/lstm.yaml and of every case file
  cases/<id>.json     one case each
"""
from __future__ import annotations

import contextlib
import fnmatch
import functools
import hashlib
import json
import math
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..cases import case_list
from .. import paths
from ..run.processes import die_with_parent
from ..reference import run_reference
from ..spec.loader import Spec, format_keypath, load_spec
from ..spec.variants import VariantError, array_dtype, array_shape, check_variant, names_of, parameter_shapes

CASE_SCHEMA = "lstm-golden/2"  # 2: variants with features, suffixed parameter names, integer inputs
MANIFEST_SCHEMA = "lstm-golden-manifest/1"
CASES_DIR = "cases"
MANIFEST = "manifest.json"
MAX_JSON_DEPTH = 32  # a case file nests 4 levels (expected.y[t][b][h]); the margin is for future variants
IGNORED_NAMES = frozenset({"__pycache__", "__init__.py"})  # what packaging may add to golden/cases


class GoldenError(ValueError):
    """A golden file that is missing, malformed or does not match its manifest."""


# ---------------------------------------------------------------- reading JSON

class _NonFinite:
    """What json's parse_constant returns for NaN, Infinity and -Infinity, so the check can name the key path."""

    def __init__(self, literal: str) -> None:
        self.literal = literal


def read_json(path: Path, what: str) -> Any:
    """The one reader of the harness's JSON files: see parse_json."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise GoldenError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    return parse_json(data, path)


def parse_json(data: bytes, origin: str | Path) -> Any:
    """Parse JSON bytes; refuse nesting deeper than MAX_JSON_DEPTH, NaN, Infinity and numbers
    that overflow to inf (1e999), naming `origin` and the key path. Raises GoldenError only."""
    try:
        value = json.loads(data, parse_constant=_NonFinite)
    except RecursionError:
        raise GoldenError(f"{origin}: nested too deep for the JSON parser; a golden file nests "
                          f"at most {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:  # includes UnicodeDecodeError
        raise GoldenError(f"{origin}: not valid JSON: {exc}") from None
    _check_json_tree(value, origin)
    return value


def _check_json_tree(value: Any, origin: str | Path) -> None:
    """Walk iteratively (no recursion), in document order: depth within MAX_JSON_DEPTH, every number finite."""
    stack: list[tuple[tuple, Any]] = [((), value)]
    while stack:
        keypath, item = stack.pop()
        if len(keypath) > MAX_JSON_DEPTH:
            raise GoldenError(f"{origin}: {format_keypath(keypath[:3])}...: nested more than {MAX_JSON_DEPTH} "
                              f"levels deep, but a golden file nests at most {MAX_JSON_DEPTH}")
        if isinstance(item, dict):
            stack.extend((keypath + (k,), v) for k, v in reversed(list(item.items())))
        elif isinstance(item, list):
            if all(type(v) is float and math.isfinite(v) for v in item):
                continue  # the common case: a row of plain numbers
            stack.extend((keypath + (i,), v) for i, v in reversed(list(enumerate(item))))
        elif isinstance(item, _NonFinite) or (isinstance(item, float) and not math.isfinite(item)):
            _non_finite(item, keypath, origin)


def _non_finite(item: Any, keypath: tuple, origin: str | Path) -> None:
    literal = item.literal if isinstance(item, _NonFinite) else f"{item} (a number too large for float64)"
    where = format_keypath(keypath) or "(top level)"
    raise GoldenError(f"{origin}: {where}={literal}, but every number in a golden file must be finite "
                      f"(the golden file is broken, not the implementation)")


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
    spec, cases = _loaded(spec_path, Path(spec_path).read_bytes(), list_path, Path(list_path).read_bytes())
    return case_id, dumps_case(build_case(cases[case_id], spec))


@functools.lru_cache(maxsize=2)
def _loaded(spec_path: str, spec_bytes: bytes, list_path: str, list_bytes: bytes
            ) -> tuple[Spec, dict[str, case_list.CaseDef]]:
    """The spec and its cases, loaded (and validated) once per worker process for as long as the files'
    contents stay the same (they are part of the key)."""
    spec = load_spec(spec_path)
    return spec, {c.id: c for c in case_list.load_case_list(list_path, spec)}


def build_all(spec: Spec, defs: Sequence[case_list.CaseDef], list_path: Path, jobs: int | None = None,
              label: str = "building cases") -> dict[str, bytes]:
    """Bytes of every case file, built in parallel processes (one per core); a progress bar on a terminal."""
    from ..report.progress import Progress

    jobs = jobs or os.cpu_count() or 1
    work = [(str(spec.path), str(list_path), c.id) for c in defs]
    # biggest first, so the pool stays busy
    work.sort(key=lambda w: -_cost(next(c for c in defs if c.id == w[2])))
    out: dict[str, bytes] = {}
    pool = (contextlib.nullcontext() if jobs == 1 else
            ProcessPoolExecutor(max_workers=jobs, initializer=die_with_parent, initargs=(os.getpid(),)))
    with Progress(len(work), label) as bar, pool:
        for cid, data in (map if jobs == 1 else pool.map)(_build_one, work):
            out[cid] = data
            bar.update(note=cid)
    return out


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
    files = build_all(spec, defs, list_path, jobs, label="regenerating")
    cases_dir = golden_dir / CASES_DIR
    # Each file is written whole to a temporary name and renamed (never half-written);
    # all are built before the first rename and the manifest goes last, so an
    # interruption leaves at worst a mix that --check and the runner both refuse.
    for cid, data in sorted(files.items()):
        atomic_write(cases_dir / f"{cid}.json", data)
    removed = []
    for stale in unlisted_files(golden_dir, {f"{cid}.json" for cid in files}):
        if stale.is_file() or stale.is_symlink():  # stale cases and leftovers of an interrupted run
            stale.unlink()
            removed.append(stale.relative_to(golden_dir).as_posix())
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
    for path in unlisted_files(golden_dir, {f"{cid}.json" for cid in listed}):
        result.extra.append(f"{path}: {_why_extra(path, list_path)}")
    if not patterns:
        for cid in sorted(set(manifest.get("cases", {})) - listed):
            result.manifest.append(f"{golden_dir / MANIFEST}: lists {cid}, which is not in {list_path}")
    fresh = build_all(spec, chosen, list_path, jobs, label="checking")
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


def _why_extra(path: Path, list_path: Path) -> str:
    if is_temp_file(path.name):
        return "a temporary file left by an interrupted regeneration (a regeneration removes it)"
    if path.suffix == ".json":
        return f"not in {list_path}"
    return f"not a case file of {list_path}"


def describe_difference(old: bytes, new: bytes) -> str:
    """Which keys differ, how many numbers, and the largest absolute difference."""
    try:
        a, b = parse_json(old, "the file"), parse_json(new, "the new file")
    except GoldenError as exc:
        return f"not a valid golden file ({exc})"
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
    manifest = read_json(manifest_path, "the manifest")
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


def is_installed_copy(golden_dir: Path) -> bool:
    """Whether `golden_dir` is the package data of an installed lstm-conformance (no checkout, no tools/)."""
    data = Path(paths.__file__).resolve().parent / "data"
    return Path(golden_dir).resolve().is_relative_to(data)


def fix_hint(golden_dir: Path, installed: str, checkout_prefix: str = "") -> str:
    """How to repair `golden_dir`: regenerate in a checkout, reinstall in an installed copy."""
    if is_installed_copy(golden_dir):
        return installed
    if Path(golden_dir).resolve() == paths.golden_dir().resolve():
        return f"{checkout_prefix}regenerate with `python tools/regen_golden.py` (or `tox -e regen`)"
    return f"{checkout_prefix}regenerate with `python tools/regen_golden.py --golden-dir {golden_dir}`"


def is_temp_file(name: str) -> bool:
    """A temporary file of atomic_write (`.<name>.<random>.tmp`), left if a write was interrupted."""
    return name.startswith(".") and name.endswith(".tmp")


def unlisted_files(golden_dir: Path, case_files: set[str]) -> list[Path]:
    """Entries of golden/cases not named in `case_files`, and atomic_write leftovers in golden/."""
    cases_dir = golden_dir / CASES_DIR
    out = []
    if cases_dir.is_dir():
        out += [p for p in sorted(cases_dir.iterdir()) if p.name not in case_files and p.name not in IGNORED_NAMES]
    if golden_dir.is_dir():
        out += [p for p in sorted(golden_dir.iterdir()) if is_temp_file(p.name)]
    return out


def load_golden(golden_dir: Path | None = None, patterns: Sequence[str] | None = None,
                spec: Spec | None = None, verify: bool = True) -> list[GoldenCase]:
    """Load the selected case files, verifying them against the manifest and the spec."""
    golden_dir = Path(golden_dir or paths.golden_dir())
    manifest_path = golden_dir / MANIFEST
    manifest = _read_manifest(golden_dir)
    if verify and spec is not None and manifest["spec"]["sha256"] != spec.sha256:
        raise GoldenError(f"{manifest_path}: the goldens were made from a spec with sha256 {manifest['spec']['sha256'][:16]}…, "
                          f"but {spec.path} has {spec.sha256[:16]}…; "
                          + fix_hint(golden_dir, "the installed spec and goldens do not match: reinstall lstm-conformance"))
    extra = unlisted_files(golden_dir, {Path(e["file"]).name for e in manifest["cases"].values()})
    if extra:
        names = [p.relative_to(golden_dir).as_posix() for p in extra]
        raise GoldenError(f"{golden_dir / CASES_DIR} holds files the manifest does not list: {names}; remove them or "
                          + fix_hint(golden_dir, "reinstall lstm-conformance"))
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
            raise GoldenError(f"{path}: sha256 {digest[:16]}… does not match the manifest's {entry['sha256'][:16]}…; "
                              + fix_hint(golden_dir, "the installed goldens do not match their manifest: "
                                                     "reinstall lstm-conformance", "edited by hand? "))
        record = parse_json(data, path)
        key = (digest, cid, spec.sha256 if spec else None, str(path.parent.parent))
        if key not in _VALIDATED:  # schema validation is the slow part; same bytes, same verdict
            _check_record(record, path, cid, spec)
            _VALIDATED.add(key)
        out.append(GoldenCase(cid, path, record))
    if patterns and not out:
        raise GoldenError(f"no golden case matches {list(patterns)}; cases are {sorted(manifest['cases'])}")
    return out


def case_schema(golden_dir: Path | None = None) -> dict:
    return read_json(Path(golden_dir or paths.golden_dir()) / "case.schema.json", "the case schema")


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
    unknown = [f for f in record["flags"] if f not in case_list.FLAG_TEXT]
    if unknown:
        raise GoldenError(f"{path}: flags holds {unknown[0]!r}, which is not a known flag; known are "
                          f"{sorted(case_list.FLAG_TEXT)}")
    dims = record["dims"]
    if sorted(dims) != sorted(spec.dimensions):
        raise GoldenError(f"{path}: dims has {sorted(dims)}, but should have {sorted(spec.dimensions)}")
    try:
        variant = check_variant(spec, record["variant"])
    except VariantError as exc:
        raise GoldenError(f"{path}: {exc}") from None
    _check_lengths(spec, record, path)
    wanted = {"inputs": {n: array_shape(spec, "inputs", n, variant, dims) for n in names_of(spec, "inputs", variant)},
              "params": parameter_shapes(spec, variant, dims),
              "expected": {n: array_shape(spec, "outputs", n, variant, dims) for n in names_of(spec, "outputs", variant)}}
    for key, shapes in wanted.items():
        missing, extra = sorted(set(shapes) - set(record[key])), sorted(set(record[key]) - set(shapes))
        if missing or extra:
            raise GoldenError(f"{path}: {key} has {sorted(record[key])}, but variant {variant} has {sorted(shapes)} "
                              f"(missing {missing}, unexpected {extra})")
        for name, want in shapes.items():
            shape = _nested_shape(record[key][name])
            if shape != want:
                raise GoldenError(f"{path}: {key}.{name}.shape={shape}, but should be {want} [dims {dims}]")
            integer = key == "inputs" and array_dtype(spec, "inputs", name) is not None
            bad = next((v for v in _flatten(record[key][name]) if isinstance(v, bool)
                        or not isinstance(v, int if integer else (int, float))), None)
            if bad is not None:
                raise GoldenError(f"{path}: {key}.{name} holds {bad!r}, but should hold only "
                                  f"{'integers' if integer else 'numbers'}")


def _check_lengths(spec: Spec, record: dict, path: Path) -> None:
    """Row lengths in [0, T], and the flags they decide set exactly when they hold."""
    T = record["dims"].get("T", 0)
    for name, entry in spec.data["inputs"].items():
        if entry.get("when") in record["variant"] and name in record["inputs"]:
            values = record["inputs"][name]
            if not isinstance(values, list) or any(isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= T
                                                   for v in values):
                raise GoldenError(f"{path}: inputs.{name}={values!r}, but should hold integers in [0, T={T}]")
    if "x" not in record["inputs"]:
        return  # reported below as a missing input
    for flag, holds in case_list.length_flags(spec, record["inputs"], record["dims"]).items():
        if (flag in record["flags"]) != holds:
            raise GoldenError(f"{path}: flag {flag} is {'missing' if holds else 'set'}, but the case's row lengths "
                              f"say it {'holds' if holds else 'does not hold'}")


def _nested_shape(value: Any) -> tuple[int, ...] | None:
    """Shape of a nested list, or None if it is ragged."""
    if not isinstance(value, list):
        return ()
    inner = {_nested_shape(v) for v in value}
    if len(inner) > 1 or None in inner:
        return None
    return (len(value),) + (inner.pop() if inner else ())
