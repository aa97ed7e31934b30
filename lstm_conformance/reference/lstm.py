"""Run the spec's step equations over time and batch, one scalar at a time."""
from __future__ import annotations

import ast
import decimal
import math
from typing import Any, Callable, Mapping

from ..spec.expressions import Expression, evaluate, parse_expression
from ..spec.loader import Spec, eval_dim
from ..spec.cell import bound_functions, bound_numbers, equations_for, evaluation_order, onnx_activation
from ..spec.variants import (Structure, VariantError, array_dtype, array_shape, cell_bases, names_of, parameter_name,
                             parameter_names, parameter_shapes, structure)
from ..reference import scalar_math
from ..reference.vectors import ListOps, apply, elementwise

MODES = ("decimal", "float")


class ReferenceError_(ValueError):
    """Inputs the reference cannot run: names the input and what is wrong."""


def _shape(value: Any) -> tuple[int, ...]:
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        value = value[0] if value else None
    return tuple(shape)


def _convert(value: Any, to_number: Callable[[float], Any], name: str) -> Any:
    if isinstance(value, list):
        return [_convert(v, to_number, name) for v in value]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ReferenceError_(f"{name} holds {value!r} ({type(value).__name__}), but should hold only numbers")
    if not math.isfinite(value):
        raise ReferenceError_(f"{name} holds {value!r}, but should hold only finite numbers")
    return to_number(value)


def _backend(spec: Spec, mode: str) -> tuple[ListOps, dict[str, Callable], Callable[[float], Any], Callable[[Any], float]]:
    """(ops, functions, number-from-float, number-to-float) for `mode`."""
    if mode == "decimal":
        ops = ListOps(scalar_math.decimal_const, decimal.Decimal(0))
        scalar_fns: dict[str, Callable] = {"exp": scalar_math.decimal_exp, "abs": abs,
                                           "log": lambda z: z.ln(), "sqrt": lambda z: z.sqrt()}
        to_number, to_float = scalar_math.to_decimal, float
    elif mode == "float":
        ops = ListOps(float, 0.0)
        scalar_fns = {"exp": math.exp, "abs": abs, "log": math.log, "sqrt": math.sqrt}
        to_number, to_float = float, float
    else:
        raise ReferenceError_(f"mode={mode!r}, but should be one of {MODES}")
    functions = {name: _vectorized(fn) for name, fn in scalar_fns.items()}
    functions.update({name: (lambda fn: (lambda a, b: elementwise(fn, a, b)))(fn) for name, fn in BINARY.items()})
    functions["where"] = lambda cond, a, b: elementwise(lambda c, pair: pair[0] if c else pair[1], cond,
                                                        elementwise(lambda p, q: (p, q), a, b))
    functions["mean"] = lambda v: _mean(v, ops)
    plain = dict(functions)  # what an activation's definition may call
    for name in spec.activations:
        if not spec.data["activations"][name].get("takes"):
            functions[name] = _vectorized(activation_function(spec, name, mode, ops, plain))
    return ops, functions, to_number, to_float


def activation_function(spec: Spec, name: str, mode: str, ops: ListOps, functions: dict,
                        numbers: Mapping[str, Any] | None = None) -> Callable:
    """The scalar function of activation `name` with its alpha and beta (`numbers`, already in the mode's
    number type): the float kernel of that name in float mode, else the spec's definition."""
    numbers = dict(numbers or {})
    if mode == "float" and name in scalar_math.FLOAT_KERNELS:
        kernel = scalar_math.FLOAT_KERNELS[name]
        return lambda z: kernel(z, **numbers)
    return _activation(spec.activations[name], ops, functions, numbers)


def _vectorized(fn: Callable) -> Callable:
    return lambda a: apply(fn, a)


def slot_functions(spec: Spec, variant: Mapping[str, Any], run: int, mode: str, ops: ListOps, functions: dict,
                   to_number: Callable[[float], Any]) -> dict[str, Callable]:
    """The functions a variant binds for run `run` (activations: gate_activation -> HardSigmoid(0.2, 0.5))."""
    out = {}
    for alias, value in bound_functions(spec, variant, run).items():
        name, takes = onnx_activation(spec, value["name"])
        numbers = {k: to_number(value[k]) for k in takes}
        out[alias] = _vectorized(activation_function(spec, name, mode, ops, functions, numbers))
    return out


def _mean(v: Any, ops: ListOps) -> Any:
    """The mean over a vector's units, summed in order with an explicit loop."""
    if not isinstance(v, list) or not v or isinstance(v[0], list):
        raise ReferenceError_("mean() takes a non-empty vector")
    total = ops.zero
    for value in v:
        total = total + value
    return total / ops.const(len(v))


# The spec's elementwise functions of two operands. The min and max of two equal values (0 and -0 too)
# are either one; a tie goes to the first operand, as Python's min and max do.
BINARY: dict[str, Callable[[Any, Any], Any]] = {"min": min, "max": max}


def _activation(definition: Expression, ops: ListOps, functions: dict[str, Callable],
                numbers: Mapping[str, Any] | None = None) -> Callable:
    """A scalar function that evaluates the spec's definition with z bound to its argument (and alpha, beta
    to `numbers`).

    In decimal mode a small |z| gets extra digits, as many as it has leading zeros:
    a definition such as (1 - exp(-2z)) / (1 + exp(-2z)) cancels that many digits
    away, and the result must still be right to the last float64 bit.
    """
    numbers = dict(numbers or {})

    def activation(z: Any) -> Any:
        if isinstance(z, decimal.Decimal) and z and z.adjusted() < 0:
            with decimal.localcontext() as ctx:
                ctx.prec += -z.adjusted()
                result = evaluate(definition, {**numbers, "z": z}, ops, functions)
            return +result  # rounded back to the working precision
        return evaluate(definition, {**numbers, "z": z}, ops, functions)
    return activation


def resolve_variant(spec: Spec, variant: Mapping[str, Any]) -> tuple[Structure, dict[str, Expression]]:
    """The sequence structure of `variant` and the step equations it runs (a variant the spec does not
    allow is an error, never silently the base LSTM)."""
    try:
        st = structure(spec, variant)
    except VariantError as exc:
        raise ReferenceError_(str(exc)) from None
    if st.lengths not in (None, *RUNS_LENGTHS):
        raise ReferenceError_(f"lengths={st.lengths!r}: this reference runs only {RUNS_LENGTHS}")
    if st.empty_rows not in RUNS_EMPTY_ROWS:
        raise ReferenceError_(f"empty_rows={st.empty_rows!r}: this reference runs only {RUNS_EMPTY_ROWS}")
    return st, equations_for(spec, variant)


# The padding conventions this reference can run (spec `features`): the canonical one and ONNX Runtime's
# rule for rows of length 0. Another convention is an error here, not a silent base run.
RUNS_LENGTHS = ("zero_fill",)
RUNS_EMPTY_ROWS = ("initial_state", "zeros")


def run_reference(spec: Spec, inputs: Mapping[str, list], params: Mapping[str, list], *,
                  variant: Mapping[str, Any] | None = None, mode: str = "decimal",
                  trace: list | None = None) -> dict[str, list]:
    """Outputs (nested lists of float) of the spec's LSTM on nested-list inputs.

    `inputs` and `params` are keyed by the spec's names under `variant`. If `trace` is a list,
    one dict of step quantities (as floats) per (layer, run, t, b) is appended to it.
    """
    variant = dict(variant or {})
    st, equations = resolve_variant(spec, variant)
    ops, functions, to_number, to_float = _backend(spec, mode)
    dims = _check_shapes(spec, st, variant, inputs, params)
    lengths = _lengths(spec, inputs, variant, dims)
    with decimal.localcontext(scalar_math.DECIMAL_CONTEXT):
        p = {name: _convert(params[name], to_number, name) for name in params}
        xs = {name: _convert(inputs[name], to_number, name) for name in names_of(spec, "inputs", variant)
              if array_dtype(spec, "inputs", name) is None}
        per_run = [({name: to_number(value) for name, value in bound_numbers(spec, variant, run).items()},
                    slot_functions(spec, variant, run, mode, ops, functions, to_number))
                   for run in range(st.D)]  # (clip_threshold ..., gate_activation ...) of each run
        step = Step(spec, equations, ops, functions, to_float, trace, per_run)
        return _run_stack(spec, st, step, variant, dims, p, xs, lengths)


def _check_shapes(spec: Spec, st: Structure, variant: dict, inputs: Mapping[str, list],
                  params: Mapping[str, list]) -> dict[str, int]:
    """The case's dimensions, read off x and the first layer's parameters; every array checked."""
    want_params = parameter_names(spec, variant)
    for kind, given, want in (("parameters", params, want_params), ("inputs", inputs, names_of(spec, "inputs", variant))):
        missing, extra = [n for n in want if n not in given], [n for n in given if n not in want]
        if missing or extra:
            raise ReferenceError_(f"{kind} lack {missing} and have unexpected {extra} [variant {variant}]"
                                  if missing and extra else f"{kind} lack {missing} [variant {variant}]" if missing
                                  else f"{kind} have {extra}, which variant {variant} does not use: "
                                       f"the reference never ignores an input")
    dims: dict[str, int] = {}
    # dimensions are read off layer 0's parameters first (they fix H and I), then the inputs
    arrays = [(entry, params[name]) for name, entry in cell_bases(spec, variant).items()] + \
        [(spec.data["inputs"][name], inputs[name]) for name in inputs]
    for entry, value in arrays:
        shape = _shape(value)
        if len(shape) == len(entry["shape"]):
            for size, dim in zip(shape, entry["shape"]):
                if isinstance(dim, str) and dim in spec.data["dimensions"]:
                    dims.setdefault(dim, size)
    missing_dims = [d for d in spec.dimensions if d not in dims]
    if missing_dims:
        raise ReferenceError_(f"cannot tell dimension(s) {missing_dims} from the arrays given")
    for name, shape in parameter_shapes(spec, variant, dims).items():
        if _shape(params[name]) != shape:
            raise ReferenceError_(f"{name}.shape={_shape(params[name])}, but should be {shape} [dims {dims}]")
    for name in inputs:
        want = array_shape(spec, "inputs", name, variant, dims)
        if _shape(inputs[name]) != want:
            raise ReferenceError_(f"{name}.shape={_shape(inputs[name])}, but should be {want} [dims {dims}]")
    return dims


def _lengths(spec: Spec, inputs: Mapping[str, list], variant: dict, dims: dict[str, int]) -> list[int]:
    """Each row's length: the input declared `when: lengths` when rows have lengths, else T for every row."""
    if "lengths" not in variant:
        return [dims["T"]] * dims["B"]
    (name,) = [n for n, e in spec.data["inputs"].items() if e.get("when") == "lengths"]
    values = inputs[name]
    if any(isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= dims["T"] for v in values):
        raise ReferenceError_(f"{name}={values!r}, but should be B={dims['B']} integers in [0, T={dims['T']}]")
    return list(values)


class Step:
    """The spec's step equations for one batch row, with the backend that evaluates them."""

    def __init__(self, spec: Spec, equations: dict[str, Expression], ops: ListOps, functions: dict,
                 to_float: Callable[[Any], float], trace: list | None,
                 per_run: list[tuple[dict, dict]] | None = None) -> None:
        self.spec, self.equations, self.ops, self.base_functions = spec, equations, ops, functions
        self.to_float, self.trace, self.per_run = to_float, trace, per_run or [({}, {})]
        self.use_run(0)
        self.state_spec = spec.data["step"]["state"]
        roots = [e["next"] for e in self.state_spec.values()] + [e["from"] for e in spec.data["outputs"].values()]
        self.order = evaluation_order(equations, roots)  # only what the state and the outputs need
        self.traced = preactivations(spec, {n: equations[n] for n in self.order}) if trace is not None else {}

    def use_run(self, run: int) -> None:
        """Bind what the variant binds for run `run`: its numbers and its functions."""
        self.bound, slots = self.per_run[run]
        self.functions = {**self.base_functions, **slots}

    def __call__(self, params: dict, x_t: dict, state: dict, where: dict) -> dict:
        """One step: the value of every equation it needs, from the parameters, this step's inputs and the state."""
        env = {**self.bound, **params, **x_t, **state}
        for name in self.order:
            env[name] = evaluate(self.equations[name], env, self.ops, self.functions)
        if self.trace is not None:
            values = {k: _to_floats(env[k], self.to_float) for k in list(self.state_spec) + self.order}
            for name, expr in self.traced.items():
                values[name] = _to_floats(evaluate(expr, env, self.ops, self.functions), self.to_float)
            self.trace.append({**where, **values})
        return env

    def next_state(self, env: dict) -> dict:
        return {s: env[e["next"]] for s, e in self.state_spec.items()}


def run_one(step: Step, params: dict, x: list, init: list[dict], lengths: list[int], reverse: bool,
            where: dict) -> tuple[list[list[dict | None]], list[dict]]:
    """One run (direction) of one layer over every row: row b runs its first lengths[b] steps, forward or
    from lengths[b] - 1 down to 0, and never reads x past its length.

    Returns (values[t][b]: the step's equation values, None past the row's length; final state per row).
    """
    T, B = len(x), len(init)
    step_inputs = step.spec.step_inputs  # {"x_t": "x"}
    values: list[list[dict | None]] = [[None] * B for _ in range(T)]
    final = []
    for b in range(B):
        state = dict(init[b])
        order = range(lengths[b] - 1, -1, -1) if reverse else range(lengths[b])
        for t in order:
            env = step(params, {name: x[t][b] for name in step_inputs}, state, {**where, "t": t, "b": b})
            values[t][b] = env
            state = step.next_state(env)
        final.append(state)
    return values, final


def _run_stack(spec: Spec, st: Structure, step: Step, variant: dict, dims: dict[str, int], p: dict, xs: dict,
               lengths: list[int]) -> dict[str, list]:
    """Layers of runs around the step; layer k >= 1 reads layer k-1's y. Outputs as the spec names them."""
    T, B = dims["T"], dims["B"]
    outputs_spec = spec.data["outputs"]
    all_steps = [n for n, e in outputs_spec.items() if e["take"] == "all_steps"]
    layer_input = xs["x"]  # (T, B, I); then (T, B, D*P)
    finals: dict[str, list] = {n: [] for n, e in outputs_spec.items() if e["take"] != "all_steps"}
    per_step: dict[str, list] = {}
    for layer in range(st.L):
        runs_values = []
        for run, direction in enumerate(st.runs):
            index = eval_dim(spec.data["structure"]["state_index"], {"layer": layer, "run": run, "D": st.D, "L": st.L})
            params = {base: p[parameter_name(spec, st, base, layer, run)] for base in cell_bases(spec, variant)}
            init = [{s: _initial(xs[e["init"]], st, index, b) for s, e in step.state_spec.items()} for b in range(B)]
            step.use_run(run)
            values, final = run_one(step, params, layer_input, init, lengths, direction == "reverse",
                                    {"layer": layer, "run": run})
            runs_values.append(values)
            for name in finals:
                finals[name].append([_final(spec, st, name, final[b], lengths[b], step.ops) for b in range(B)])
        per_step = {}
        for name in all_steps:
            width = array_shape(spec, "outputs", name, variant, dims)[-1] // st.D  # one run's part of (.., D*P)
            source = outputs_spec[name]["from"]
            per_step[name] = [[_concat([_step_value(v[t][b], source, width, step.ops) for v in runs_values])
                               for b in range(B)] for t in range(T)]
        layer_input = per_step[all_steps[0]]  # the layer's y is the next layer's x
    out = {name: _to_floats(per_step[name], step.to_float) for name in all_steps}
    for name, stack in finals.items():  # stack[layer * D + run][b]
        out[name] = _to_floats(stack if st.stacked else stack[0], step.to_float)
    return out


def _initial(value: list, st: Structure, index: int, b: int) -> Any:
    """Row b's initial state for the run at `index`: from (L * D, B, H) when stacked, else (B, H)."""
    return value[index][b] if st.stacked else value[b]


def _final(spec: Spec, st: Structure, name: str, state: dict, length: int, ops: ListOps) -> Any:
    """A last_step output of one row: the state after its last valid step (a row of length 0 keeps its
    initial state, or returns zeros under empty_rows=zeros)."""
    source = spec.data["outputs"][name]["from"]
    (state_name,) = [s for s, e in spec.data["step"]["state"].items() if e["next"] == source]
    value = state[state_name]
    if length == 0 and st.empty_rows == "zeros":
        return _zeros_like(value, ops)
    return value


def _step_value(env: dict | None, source: str, width: int, ops: ListOps) -> list:
    """An all_steps output's value at one (t, b): exactly 0 past the row's length."""
    return [ops.zero] * width if env is None else env[source]


def _zeros_like(value: Any, ops: ListOps) -> Any:
    return [_zeros_like(v, ops) for v in value] if isinstance(value, list) else ops.zero


def _concat(parts: list[list]) -> list:
    """[forward | reverse] along the last axis."""
    return [v for part in parts for v in part]


def preactivations(spec: Spec, equations: Mapping[str, Expression]) -> dict[str, Expression]:
    """For each equation of the form act(arg) with act an activation: "pre_<name>" -> arg."""
    out = {}
    for name, expr in equations.items():
        tree = expr.tree
        if isinstance(tree, ast.Call) and tree.func.id in spec.activations and len(tree.args) == 1:
            arg = ast.get_source_segment(expr.text, tree.args[0]) or ast.unparse(tree.args[0])
            out[f"pre_{name}"] = parse_expression(arg)
    return out


def _to_floats(value: Any, to_float: Callable[[Any], float]) -> Any:
    return apply(to_float, value)
