"""Load, validate and query spec/lstm.yaml.

Loading first scans the YAML events and refuses anchors and aliases (an alias
bomb expands exponentially); then `yaml.safe_load` reads the data and a second
pass composes the YAML node tree (SafeLoader) only to find duplicate keys and to
point errors at a line and column. Every error is a SpecError naming the file,
line, column and key path. Every YAML file the harness reads goes through
read_yaml_document.
"""
from __future__ import annotations

import ast
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import yaml

from .. import paths
from ..packing.packings import Packing, PackingError, block_shape, fits, parse_packing
from ..spec.cell import (GATE, PREVIOUS, VALUE, all_bound_names, all_feature_parameters, bound_numbers, cell_features,
                        cell_parameters, chosen, equations_for, evaluation_order, expand_edits, function_aliases)
from ..spec.expressions import (Expression, ExpressionError, ShapeOps, binary_shape_function,
                                elementwise_shape_function, evaluate, mean_shape_function, parse_expression,
                                where_shape_function)

SCHEMA_FILE = "lstm.schema.json"
BUILTIN_FUNCTIONS = frozenset({"exp", "abs", "log", "sqrt"})  # unary, elementwise
BINARY_FUNCTIONS = frozenset({"min", "max"})    # elementwise over two operands (a scalar broadcasts)
STEP_FUNCTIONS = frozenset({"where", "mean"})   # where(comparison, a, b) elementwise; mean(v) over a vector's units
_FLOATISH = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")  # what YAML 1.2 calls a float
ALIAS_MESSAGE = "YAML aliases are not allowed in {what} (they can expand exponentially); write the value out"


class SpecError(ValueError):
    """A spec that cannot be loaded: says where (file:line:column, key path) and what."""

    def __init__(self, file: str | Path, keypath: Sequence[Any], message: str,
                 line: int | None = None, column: int | None = None) -> None:
        self.file, self.keypath, self.line, self.column = str(file), tuple(keypath), line, column
        self.message = message
        where = str(file) if line is None else f"{file}:{line}:{column}"
        key = format_keypath(keypath)
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")


def format_keypath(keypath: Sequence[Any]) -> str:
    out = ""
    for key in keypath:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out


# ---------------------------------------------------------------- YAML nodes

def _node_at(root: yaml.Node | None, keypath: Sequence[Any]) -> yaml.Node | None:
    """The deepest node along `keypath` (for error positions)."""
    node = root
    for key in keypath:
        if isinstance(node, yaml.MappingNode):
            for knode, vnode in node.value:
                if knode.value == str(key):
                    node = vnode
                    break
            else:
                return node
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            return node
    return node


def _duplicate_keys(node: yaml.Node, path: tuple = ()) -> Iterable[tuple[tuple, yaml.Node]]:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for knode, vnode in node.value:
            if knode.value in seen:
                yield path + (knode.value,), knode
            seen.add(knode.value)
            yield from _duplicate_keys(vnode, path + (knode.value,))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _duplicate_keys(item, path + (i,))


# ---------------------------------------------------------------- the Spec

@dataclass
class Spec:
    """A validated spec with its parsed expressions."""

    path: Path
    data: dict
    sha256: str
    equations: dict[str, Expression] = field(default_factory=dict)
    activations: dict[str, Expression] = field(default_factory=dict)
    invariant_checks: dict[str, Expression] = field(default_factory=dict)
    packings: dict[str, Packing] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return self.data["version"]

    @property
    def dimensions(self) -> list[str]:
        """A case's own dimensions (T, B, I, H): not those a variant's features fix (D, L)."""
        return [n for n, e in self.data["dimensions"].items() if "from" not in e]

    @property
    def parameter_names(self) -> list[str]:
        return list(self.data["parameters"])

    @property
    def input_names(self) -> list[str]:
        """Every declared input (some exist only under a feature: variants.names_of says which)."""
        return list(self.data["inputs"])

    @property
    def step_inputs(self) -> dict[str, str]:
        """Inputs with a leading T axis, as each step sees them: {"x_t": "x"}."""
        return {f"{n}_t": n for n, e in self.data["inputs"].items() if e["shape"][:1] == ["T"]}

    @property
    def output_names(self) -> list[str]:
        return list(self.data["outputs"])

    @property
    def dtypes(self) -> list[str]:
        return list(self.data["tolerances"])

    def tolerance(self, dtype: str) -> tuple[float, float]:
        """(atol, rtol) for `dtype`."""
        tols = self.data["tolerances"]
        if dtype not in tols:
            raise KeyError(f"the spec has no tolerance for dtype {dtype!r}; it has {sorted(tols)}")
        return float(tols[dtype]["atol"]), float(tols[dtype]["rtol"])

    def shape_of(self, kind: str, name: str, dims: dict[str, int]) -> tuple[int, ...]:
        """Concrete shape of an input, parameter or output for the given dims (a dimension with a `default`
        that `dims` leaves out takes it: P is H without a projection)."""
        full = self.with_defaults(dims)
        return tuple(eval_dim(d, full) for d in self.data[kind][name]["shape"])

    def with_defaults(self, dims: dict[str, int]) -> dict[str, int]:
        """`dims` with every dimension that has a `default` and is not given set to it (P = H)."""
        full = dict(dims)
        for name, e in self.data["dimensions"].items():
            if "default" in e and name not in full:
                full[name] = eval_dim(e["default"], full)
        return full

    def invariants(self) -> list[dict]:
        return list(self.data["invariants"])


def dim_terms(dim: str | int) -> list[tuple[int, str | None]]:
    """A shape entry as (coefficient, dimension or None) terms: "4 * H + I" -> [(4, "H"), (1, "I")]."""
    if isinstance(dim, int):
        return [(dim, None)]
    terms = []
    for term in str(dim).split("+"):
        factors = [f.strip() for f in term.split("*")]
        coef, name = 1, None
        for f in factors:
            if f.isdigit():
                coef *= int(f)
            elif name is None:
                name = f
            else:
                raise ValueError(f"shape entry {dim!r}: a term may name one dimension, found {term.strip()!r}")
        terms.append((coef, name))
    return terms


def dim_products(dim: str | int) -> list[tuple[int, list[str]]]:
    """A shape entry as (coefficient, dimensions multiplied) terms: "L * D" -> [(1, ["L", "D"])]."""
    if isinstance(dim, int):
        return [(dim, [])]
    terms = []
    for term in str(dim).split("+"):
        factors = [f.strip() for f in term.split("*")]
        terms.append((math.prod(int(f) for f in factors if f.isdigit()), [f for f in factors if not f.isdigit()]))
    return terms


def eval_dim(dim: str | int, dims: dict[str, int]) -> int:
    """A shape entry: an int, a dimension name, or a sum of products of them like "4 * H + I" or "D * H"."""
    return sum(coef * math.prod(dims[name] for name in names) for coef, names in dim_products(dim))


def load_spec(path: str | Path | None = None) -> Spec:
    """Load and validate the spec (default: the project's spec/lstm.yaml)."""
    path = Path(path) if path is not None else paths.spec_file()
    data, raw, fail = read_yaml_document(path, SCHEMA_FILE, "the spec")
    spec = Spec(path=path, data=data, sha256=hashlib.sha256(raw).hexdigest())
    _check_semantics(spec, fail)
    return spec


def spec_from_data(data: dict, origin: str | Path, sha256: str = "") -> Spec:
    """A spec built from data in memory (e.g. the spec with a hypothesis applied); same checks, no line numbers."""
    def fail(keypath: Sequence[Any], message: str) -> SpecError:
        return SpecError(origin, keypath, message)

    check_finite(data, fail)
    _validate_schema(data, None, fail)
    spec = Spec(path=Path(origin), data=data, sha256=sha256)
    _check_semantics(spec, fail)
    return spec


def read_yaml_document(path: Path, schema_file: str | None, what: str) -> tuple[dict, bytes, Callable[..., SpecError]]:
    """Read a YAML mapping with safe_load, refuse anchors/aliases, duplicate keys and non-finite
    floats, validate it against spec/<schema_file> (if given); return (data, raw bytes, fail) where
    fail(keypath, message) makes a SpecError pointing at the line and column of `keypath`."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SpecError(path, (), f"cannot read {what}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(path, (), f"not UTF-8 text: {exc}") from None
    try:
        _refuse_aliases(text, path, what)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        if mark is not None:
            raise SpecError(path, (), f"invalid YAML: {problem}", mark.line + 1, mark.column + 1) from None
        raise SpecError(path, (), f"invalid YAML: {problem}") from None

    def fail(keypath: Sequence[Any], message: str) -> SpecError:
        node = _node_at(root, keypath)
        if node is None:
            return SpecError(path, keypath, message)
        return SpecError(path, keypath, message, node.start_mark.line + 1, node.start_mark.column + 1)

    if root is not None:
        for keypath, knode in _duplicate_keys(root):
            raise SpecError(path, keypath, "duplicate key (YAML would silently keep the last one)",
                            knode.start_mark.line + 1, knode.start_mark.column + 1)
    if not isinstance(data, dict):
        raise fail((), f"{what} must be a mapping, got {type(data).__name__}")
    check_finite(data, fail)
    if schema_file is not None:
        _validate_schema(data, root, fail, schema_file)
    return data, raw, fail


def _refuse_aliases(text: str, path: Path, what: str) -> None:
    """Scan the YAML events (nothing is composed or expanded) and refuse the first anchor or alias."""
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            mark = event.start_mark
            raise SpecError(path, (), ALIAS_MESSAGE.format(what=what), mark.line + 1, mark.column + 1)


def check_finite(data: Any, fail: Callable[..., SpecError]) -> None:
    """Refuse a NaN or infinite float anywhere in `data` (a tolerance, a range bound, a constant):
    no value in these files makes sense non-finite, and NaN passes every schema bound."""
    stack: list[tuple[tuple, Any]] = [((), data)]
    while stack:
        keypath, value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            raise fail(keypath, f"{value} is not a finite number; write a finite value")
        if isinstance(value, dict):
            stack.extend((keypath + (k,), v) for k, v in reversed(list(value.items())))
        elif isinstance(value, list):
            stack.extend((keypath + (i,), v) for i, v in reversed(list(enumerate(value))))


def _validate_schema(data: dict, root: yaml.Node | None, fail, schema_file: str = SCHEMA_FILE) -> None:
    import jsonschema

    schema = json.loads((paths.spec_dir() / schema_file).read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if not errors:
        return
    err = errors[0]
    # A "oneOf"/"anyOf" error hides the useful one in its context.
    while err.context:
        err = sorted(err.context, key=lambda e: -len(e.absolute_path))[0]
    message = err.message
    node = _node_at(root, list(err.absolute_path))
    plain = isinstance(node, yaml.ScalarNode) and not node.style  # quoted on purpose: no YAML trap
    if err.validator == "type" and plain and isinstance(err.instance, str) and _FLOATISH.match(err.instance.strip()):
        message += (f" (YAML 1.1 reads {err.instance!r} as a string: write it with a dot and a signed exponent,"
                    f" e.g. {_with_dot(err.instance)})")
    more = f" (and {len(errors) - 1} more schema error(s))" if len(errors) > 1 else ""
    raise fail(list(err.absolute_path), f"{message}{more}")


def _with_dot(text: str) -> str:
    mant, _, exp = text.strip().lower().partition("e")
    if "." not in mant:
        mant += ".0"
    if exp[:1] not in "+-":
        exp = "+" + exp  # YAML 1.1 floats need a signed exponent too
    return f"{mant}e{exp}"


def _parse(text: str, keypath: Sequence[Any], fail, allow_compare: bool = False) -> Expression:
    try:
        return parse_expression(text, allow_compare=allow_compare)
    except ExpressionError as exc:
        raise fail(keypath, str(exc)) from None


def _check_semantics(spec: Spec, fail) -> None:
    """Cross-references the schema cannot express."""
    d = spec.data
    dims = set(d["dimensions"])
    for kind in ("inputs", "parameters", "outputs"):
        for name, entry in d[kind].items():
            for key in ("shape", "stacked_shape"):
                for i, dim in enumerate(entry.get(key, [])):
                    _check_dim(dim, dims, (kind, name, key, i), fail)
    _check_features(spec, fail)
    _check_derived(spec, fail)
    activation_names = set(d["activations"])
    for name, entry in d["activations"].items():
        expr = _parse(entry["definition"], ("activations", name, "definition"), fail)
        allowed = {"z", *entry.get("takes", [])}
        unknown = expr.names - allowed
        if unknown:
            raise fail(("activations", name, "definition"),
                       f"an activation may use only its argument z and the numbers it `takes` {sorted(allowed - {'z'})}, "
                       f"found {sorted(unknown)}")
        callable_here = BUILTIN_FUNCTIONS | BINARY_FUNCTIONS | {"where"}
        if expr.functions - callable_here:
            raise fail(("activations", name, "definition"),
                       f"an activation may call only {sorted(callable_here)}, found {sorted(expr.functions - callable_here)}")
        spec.activations[name] = expr
    onnx_names = [e["onnx"] for e in d["activations"].values() if "onnx" in e]
    if len(set(onnx_names)) != len(onnx_names):
        raise fail(("activations",), f"two activations share an onnx name: {sorted(onnx_names)}")
    for gate, entry in d["gates"].items():
        if entry["activation"] not in activation_names:
            raise fail(("gates", gate, "activation"),
                       f"unknown activation {entry['activation']!r}; the spec defines {sorted(activation_names)}")
        if gate not in d["step"]["equations"]:
            raise fail(("gates", gate), f"gate {gate!r} has no equation in step.equations")
    for name, entry in d["parameters"].items():
        if entry["gate"] not in d["gates"]:
            raise fail(("parameters", name, "gate"), f"unknown gate {entry['gate']!r}; the spec defines {sorted(d['gates'])}")

    state = d["step"]["state"]
    per_step_inputs = set(spec.step_inputs)
    for sname, entry in state.items():
        if entry["init"] not in d["inputs"]:
            raise fail(("step", "state", sname, "init"), f"unknown input {entry['init']!r}; inputs are {sorted(d['inputs'])}")
        if entry["next"] not in d["step"]["equations"]:
            raise fail(("step", "state", sname, "next"), f"{entry['next']!r} is not an equation in step.equations")
    inputs_known = set(d["parameters"]) | per_step_inputs | set(state)
    known = inputs_known | set(d["step"]["equations"])
    functions = activation_names | BUILTIN_FUNCTIONS | BINARY_FUNCTIONS | STEP_FUNCTIONS
    for name, text in d["step"]["equations"].items():
        keypath = ("step", "equations", name)
        expr = _parse(text, keypath, fail)
        undefined = expr.names - known
        if undefined:
            raise fail(keypath, f"{sorted(undefined)} not defined; known names are {sorted(known)}")
        if expr.functions - functions:
            raise fail(keypath, f"unknown function(s) {sorted(expr.functions - functions)}; known are {sorted(functions)}")
        if name in inputs_known:
            raise fail(keypath, f"equation {name!r} redefines an existing name")
        spec.equations[name] = expr
    try:
        evaluation_order(spec.equations, list(spec.equations))
    except ValueError as exc:
        raise fail(("step", "equations"), str(exc)) from None
    for name, entry in d["outputs"].items():
        if entry["from"] not in spec.equations:
            raise fail(("outputs", name, "from"), f"{entry['from']!r} is not an equation in step.equations")
    for gate, entry in d["gates"].items():
        tree = spec.equations[gate].tree
        called = tree.func.id if isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) else None
        if called != entry["activation"]:
            raise fail(("step", "equations", gate), f"gate {gate!r} has activation {entry['activation']!r} in gates, "
                       f"but its equation applies {called or 'no activation'} at the top")
    _dry_run(spec, fail)
    _check_cell_features(spec, fail, functions | function_aliases(spec))
    _check_packings(spec, fail)
    step_names = set(spec.equations) | set(state) | set(d["parameters"]) | per_step_inputs
    output_names = set(d["outputs"]) | set(d["inputs"]) | set(d["dimensions"])
    quantities = set(spec.equations) | set(d["outputs"]) | {"all"}
    for k, inv in enumerate(d["invariants"]):
        if inv["quantity"] not in quantities:
            raise fail(("invariants", k, "quantity"), f"unknown quantity {inv['quantity']!r}; known are {sorted(quantities)}")
        if "range" in inv and inv["range"][0] > inv["range"][1]:
            raise fail(("invariants", k, "range"), f"range {inv['range']} is empty")
        if "holds" in inv and inv["holds"] != "finite":
            keypath = ("invariants", k, "holds")
            expr = _parse(inv["holds"], keypath, fail, allow_compare=True)
            if not isinstance(expr.tree, ast.Compare):
                raise fail(keypath, f"{expr.text!r} is not a comparison, so it could never fail; write e.g. a <= b")
            names = step_names if inv["quantity"] in spec.equations else output_names
            if expr.names - names:
                raise fail(keypath, f"{sorted(expr.names - names)} unknown here; known are {sorted(names)}")
            if expr.functions - BUILTIN_FUNCTIONS:
                raise fail(keypath, f"unknown function(s) {sorted(expr.functions - BUILTIN_FUNCTIONS)}; "
                                    f"known are {sorted(BUILTIN_FUNCTIONS)}")
            spec.invariant_checks[inv["name"]] = expr


def _check_dim(dim: str | int, dims: set[str], keypath: Sequence[Any], fail, products: bool = True) -> None:
    """A shape entry names only known dimensions; without `products` (packings, whose sizes are solved
    for) a term may name one dimension only."""
    if not products:
        try:
            dim_terms(dim)
        except ValueError as exc:
            raise fail(keypath, str(exc)) from None
    for _, names in dim_products(dim):
        for name in names:
            if not name.isidentifier():
                raise fail(keypath, f"shape entry {dim!r}: {name!r} is neither a number nor a dimension name")
            if name not in dims:
                raise fail(keypath, f"unknown dimension {name!r}; the spec defines {sorted(dims)}")


def _check_derived(spec: Spec, fail) -> None:
    """derived_conventions: their transforms, names and conditions (lstm_conformance/judge/declared.py)."""
    from ..judge.declared import DerivedError, checked_derived  # the transforms live with diagnosis's, which import this

    try:
        checked_derived(spec)
    except DerivedError as exc:
        raise fail(exc.keypath, exc.message) from None


def _check_features(spec: Spec, fail) -> None:
    """Features and structure: what the schema cannot say about them."""
    d = spec.data
    feats, runs = d["features"], set(d["structure"]["names"]["run"])
    for name in ("direction", "num_layers", "lengths", "empty_rows"):  # the ones the structure is built from
        if name not in feats:
            raise fail(("features",), f"the feature {name!r} is missing; the sequence structure is built from it")
    for name, feat in feats.items():
        keypath = ("features", name)
        if feat["type"] == "string" and "values" not in feat:
            raise fail(keypath, "a string feature needs `values`")
        if feat["type"] == "string" and feat["default"] is not None and feat["default"] not in feat["values"]:
            raise fail(keypath + ("default",), f"{feat['default']!r} is not among its values {sorted(feat['values'])}")
        for other in feat.get("requires", []):
            if other not in feats:
                raise fail(keypath + ("requires",), f"unknown feature {other!r}; the spec declares {sorted(feats)}")
        for value, entry in feat.get("values", {}).items():
            unknown = set(entry.get("runs", [])) - runs
            if unknown:
                raise fail(keypath + ("values", value, "runs"), f"{sorted(unknown)} not in structure.names.run {sorted(runs)}")
    if set(feats["direction"]["values"][feats["direction"]["default"]].get("runs", [])) != {"forward"}:
        raise fail(("features", "direction", "default"), "the default direction must have runs [forward]")
    for kind in ("inputs", "outputs"):
        for name, entry in d[kind].items():
            if "when" in entry and entry["when"] not in feats:
                raise fail((kind, name, "when"), f"unknown feature {entry['when']!r}; the spec declares {sorted(feats)}")
    for dim, entry in d["dimensions"].items():
        if "from" in entry and entry["from"] not in feats:
            raise fail(("dimensions", dim, "from"), f"unknown feature {entry['from']!r}")
    names = d["structure"]["names"]
    run_parts = [names["run"].get(r, "") for r in sorted(runs)]
    if "{layer}" not in names["layer"] or len(set(run_parts)) != len(run_parts) or \
            any(part not in names["parameter"] for part in ("{name}", "{layer}", "{run}")):
        raise fail(("structure", "names"), f"the templates must give every layer and run its own names: layer "
                                           f"{names['layer']!r} needs {{layer}}, the runs {names['run']} distinct "
                                           f"suffixes, parameter {names['parameter']!r} {{name}}, {{layer}} and {{run}}")
    for dim, expr in d["structure"]["layer_input"].items():
        if dim not in d["dimensions"]:
            raise fail(("structure", "layer_input", dim), f"unknown dimension {dim!r}")
        _check_dim(expr, set(d["dimensions"]), ("structure", "layer_input", dim), fail)


def _check_packings(spec: Spec, fail) -> None:
    """Parse every packing and dry-run its tensor shapes (dims as in _dry_run)."""
    d = spec.data
    dims = {name: _DRY_DIMS.get(name, 11 + i) for i, name in enumerate(d["dimensions"])}
    for name, entry in d["packings"].items():
        keypath = ("packings", name)
        features = {f: list(chosen(e, True)["parameters"]) for f, e in cell_features(spec).items()
                    if e.get("parameters")}  # features whose parameters a `when` tensor may hold
        shapes = {**d["parameters"], **all_feature_parameters(spec)}
        try:
            packing = parse_packing(name, entry, list(d["gates"]), list(d["parameters"]), features)
        except PackingError as exc:
            raise fail(keypath + exc.keypath, str(exc)) from None
        for tname, tensor in packing.tensors.items():
            tpath = keypath + ("tensors", tname)
            for i, dim in enumerate(tensor.shape):
                _check_dim(dim, set(dims), tpath + ("shape", i), fail, products=False)
            try:
                built = block_shape(tensor.block, lambda p: tuple(eval_dim(x, dims) for x in shapes[p]["shape"]))
            except PackingError as exc:
                raise fail(tpath + ("block",), f"{exc} [dims {dims}]") from None
            declared = tuple(eval_dim(s, dims) for s in tensor.shape)
            if not fits(declared, built):
                raise fail(tpath + ("shape",), f"the block builds shape {built}, but the declared shape "
                                               f"{list(tensor.shape)} is {declared} [dims {dims}]")
        spec.packings[name] = packing


# distinct sizes, so that a swapped dimension shows in the dry run
_DRY_DIMS = {"T": 7, "B": 5, "I": 3, "H": 2, "D": 1, "L": 1}  # D, L: one layer, one run (the step's own shapes)
_DRY_SIZE = 4  # an integer cell feature's value in the dry runs (proj_size: P differs from H)


def _row_shape(shape: list, drop: Sequence[str], dims: dict[str, int]) -> tuple[int, ...]:
    """The shape seen by one batch row at one step: `shape` without its leading `drop` axes."""
    if [str(s) for s in shape[:len(drop)]] != list(drop):
        return tuple(eval_dim(s, dims) for s in shape)
    return tuple(eval_dim(s, dims) for s in shape[len(drop):])


def _shape_functions(spec: Spec) -> dict:
    functions = {n: elementwise_shape_function(n) for n in set(spec.activations) | BUILTIN_FUNCTIONS}
    functions.update({n: binary_shape_function(n) for n in BINARY_FUNCTIONS})
    functions.update({"where": where_shape_function, "mean": mean_shape_function})
    return functions


def _dry_run_equations(spec: Spec, equations: dict, env: dict, dims: dict, fail, keypath: tuple,
                       functions: dict | None = None) -> None:
    """Evaluate on shapes, in dependency order, the equations the next state and the outputs need."""
    roots = [e["next"] for e in spec.data["step"]["state"].values()] + [e["from"] for e in spec.data["outputs"].values()]
    try:
        order = evaluation_order(equations, roots)
    except ValueError as exc:
        raise fail(keypath, str(exc)) from None
    for name in order:
        missing = equations[name].names - set(env) - set(equations)
        if missing:
            raise fail(keypath + (name,), f"{equations[name].text!r} reads {sorted(missing)}, which this variant "
                                          f"does not have [dims {dims}]")
        try:
            env[name] = evaluate(equations[name], env, ShapeOps(), functions or _shape_functions(spec))
        except ExpressionError as exc:
            raise fail(keypath + (name,), f"{exc} [dims {dims}]") from None


def _feature_options(spec: Spec, feature: dict) -> list:
    """One value per way a cell feature can be set (its default excluded), for the dry runs."""
    kind = feature["type"]
    if kind == "boolean":
        return [True]
    if kind == "number":
        return [1.0]
    if kind == "integer":
        return [_DRY_SIZE]
    if kind == "object":
        fields = feature.get("fields", {})
        some = next(e["onnx"] for e in spec.data["activations"].values() if "onnx" in e)
        plain = {f: 1.0 if e["type"] == "number" else {"name": some, "alpha": 0, "beta": 0}
                 for f, e in fields.items() if e["type"] != "string"}
        return [{"convention": v, **plain} for v in feature["values"]] if "values" in feature else [plain]
    return [v for v in feature.get("values", {}) if v != feature.get("default")]


def _dry_dims(spec: Spec, variant: Mapping[str, Any]) -> dict[str, int]:
    """Distinct sizes for the dry runs; a dimension a feature sizes takes the feature's value, or its default."""
    d = spec.data
    dims = {name: _DRY_DIMS.get(name, 11 + i) for i, name in enumerate(d["dimensions"])}
    for name, e in d["dimensions"].items():
        if "default" in e:
            dims[name] = variant[e["from"]] if e["from"] in variant else eval_dim(e["default"], dims)
    return dims


def _check_cell_features(spec: Spec, fail, functions: set) -> None:
    """Every cell feature's parameters, removes and edits name what exists, and every combination of them
    gives a step whose shapes fit and whose equations read no name the variant lacks."""
    import itertools

    d = spec.data
    features = cell_features(spec)
    added = all_feature_parameters(spec)
    params = set(d["parameters"]) | set(added)
    known = params | set(spec.step_inputs) | set(d["step"]["state"]) | set(d["step"]["equations"]) | \
        all_bound_names(spec)
    invariant_names = {i["name"] for i in d["invariants"]}
    for fname, feature in features.items():
        base = ("features", fname)
        if feature["type"] == "boolean" and feature["default"] is not False:
            raise fail(base + ("default",), "a boolean feature's default must be false")
        fields = feature.get("fields", {})
        if feature["type"] == "object" and ("convention" in fields or "values" in feature):
            if fields.get("convention", {}).get("type") != "string" or "values" not in feature:
                raise fail(base + ("fields",), "an object feature with `values` needs a string field `convention` "
                                               "naming one of them")
        if feature.get("per_run") and feature["type"] != "object":
            raise fail(base + ("per_run",), "only an object feature can be given per run")
        for alias, bound in feature.get("binds", {}).items():
            ok = (fields.get(bound, {}).get("type") in ("number", "activation") if feature["type"] == "object"
                  else feature["type"] == "number" and bound == VALUE)
            if not ok:
                raise fail(base + ("binds", alias), f"{bound!r} is not a number or activation field of the feature "
                                                    f"(or `{VALUE}`, for a number feature)")
        parts = [(base, feature)] + [(base + ("values", v), e) for v, e in (feature.get("values") or {}).items()]
        for where, part in parts:
            for k, inv in enumerate(part.get("disables", [])):
                if inv not in invariant_names:
                    raise fail(where + ("disables", k), f"{inv!r} is not an invariant of the spec")
            for pname, entry in part.get("parameters", {}).items():
                if "gate" in entry and entry["gate"] not in d["gates"]:
                    raise fail(where + ("parameters", pname, "gate"), f"unknown gate {entry['gate']!r}")
                if pname in d["parameters"]:
                    raise fail(where + ("parameters", pname), f"{pname!r} is already a parameter of the spec")
                for i, dim in enumerate(entry["shape"]):
                    _check_dim(dim, set(d["dimensions"]), where + ("parameters", pname, "shape", i), fail)
            for k, pname in enumerate(part.get("removes", [])):
                if pname not in params:
                    raise fail(where + ("removes", k), f"{pname!r} is not a parameter of the spec or of a feature")
            for key, text in part.get("edits", {}).items():
                if GATE in text and GATE not in key:
                    raise fail(where + ("edits", key), "{gate} in the definition needs {gate} in the key")
                for eq, etext in expand_edits(spec, {key: text}).items():
                    if eq not in d["step"]["equations"]:
                        raise fail(where + ("edits", key), f"{eq!r} is not an equation of the step")
                    expr = _parse(etext.replace(PREVIOUS, "(0)"), where + ("edits", key), fail)
                    if expr.names - known:
                        raise fail(where + ("edits", key), f"{sorted(expr.names - known)} not defined; known names "
                                                           f"are {sorted(known)}")
                    if expr.functions - functions:
                        raise fail(where + ("edits", key), f"unknown function(s) {sorted(expr.functions - functions)}")
    options = [[None] + _feature_options(spec, f) for f in features.values()]
    for combo in itertools.product(*options):
        variant = {n: v for n, v in zip(features, combo) if v is not None}
        if not variant or any(r not in variant for n in variant for r in d["features"][n].get("requires", [])):
            continue
        dims = _dry_dims(spec, variant)
        env: dict[str, Any] = {n: tuple(eval_dim(s, dims) for s in e["shape"])
                               for n, e in cell_parameters(spec, variant).items()}
        for step_name, n in spec.step_inputs.items():
            env[step_name] = _row_shape(d["inputs"][n]["shape"], ["T", "B"], dims)
        for sname, e in d["step"]["state"].items():
            env[sname] = _row_shape(d["inputs"][e["init"]]["shape"], ["B"], dims)
        env.update({n: () for n in bound_numbers(spec, variant)})
        fns = {**_shape_functions(spec), **{n: elementwise_shape_function(n) for n in function_aliases(spec)}}
        _dry_run_equations(spec, equations_for(spec, variant), env, dims, fail,
                           ("features", ", ".join(f"{k}={v}" for k, v in variant.items())), fns)


def _dry_run(spec: Spec, fail) -> None:
    """Evaluate every equation on shapes, so a mismatch is reported here, with its key path."""
    d = spec.data
    dims = _dry_dims(spec, {})
    env: dict[str, Any] = {n: tuple(eval_dim(s, dims) for s in e["shape"]) for n, e in d["parameters"].items()}
    for step_name, n in spec.step_inputs.items():
        env[step_name] = _row_shape(d["inputs"][n]["shape"], ["T", "B"], dims)
    for sname, e in d["step"]["state"].items():
        env[sname] = _row_shape(d["inputs"][e["init"]]["shape"], ["B"], dims)
    _dry_run_equations(spec, spec.equations, env, dims, fail, ("step", "equations"))
    for sname, e in d["step"]["state"].items():
        if env[e["next"]] != env[sname]:
            raise fail(("step", "state", sname, "next"), f"{e['next']} has shape {env[e['next']]}, but the state "
                       f"{sname} has {env[sname]} [dims {dims}]")
    for name, e in d["outputs"].items():
        want = _row_shape(e["shape"], ["T", "B"] if e["take"] == "all_steps" else ["B"], dims)
        if env[e["from"]] != want:
            raise fail(("outputs", name), f"{e['from']} has shape {env[e['from']]} per row and step, but {name} "
                       f"{e['shape']} needs {want} [dims {dims}]")
