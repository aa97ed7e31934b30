"""Run the spec's step equations over time and batch, one scalar at a time."""
from __future__ import annotations

import ast
import decimal
import math
from typing import Any, Callable, Mapping

from ..expressions import Expression, evaluate, parse_expression
from ..spec_loader import Spec
from . import scalar_math
from .vectors import ListOps, apply

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
        scalar_fns: dict[str, Callable] = {"exp": scalar_math.decimal_exp, "abs": abs}
        to_number, to_float = scalar_math.to_decimal, float
    elif mode == "float":
        ops = ListOps(float, 0.0)
        scalar_fns = {"exp": math.exp, "abs": abs}
        to_number, to_float = float, float
    else:
        raise ReferenceError_(f"mode={mode!r}, but should be one of {MODES}")
    for name, definition in spec.activations.items():
        if mode == "float" and name in scalar_math.FLOAT_KERNELS:
            scalar_fns[name] = scalar_math.FLOAT_KERNELS[name]
        else:
            scalar_fns[name] = _activation(definition, ops, dict(scalar_fns))
    functions = {name: (lambda fn: (lambda a: apply(fn, a)))(fn) for name, fn in scalar_fns.items()}
    return ops, functions, to_number, to_float


def _activation(definition: Expression, ops: ListOps, functions: dict[str, Callable]) -> Callable:
    """A scalar function that evaluates the spec's definition with z bound to its argument.

    In decimal mode a small |z| gets extra digits, as many as it has leading zeros:
    a definition such as (1 - exp(-2z)) / (1 + exp(-2z)) cancels that many digits
    away, and the result must still be right to the last float64 bit.
    """
    def activation(z: Any) -> Any:
        if isinstance(z, decimal.Decimal) and z and z.adjusted() < 0:
            with decimal.localcontext() as ctx:
                ctx.prec += -z.adjusted()
                result = evaluate(definition, {"z": z}, ops, functions)
            return +result  # rounded back to the working precision
        return evaluate(definition, {"z": z}, ops, functions)
    return activation


def resolve_variant(spec: Spec, variant: Mapping[str, Any]) -> tuple[str, dict[str, Expression]]:
    """The spec variant whose settings equal `variant`, and its equations."""
    for name, entry in spec.data["variants"].items():
        if dict(entry["settings"]) == dict(variant):
            equations = dict(spec.equations)
            if entry.get("equations"):
                raise ReferenceError_(f"variant {name!r} replaces equations, which this reference does not run yet")
            return name, equations
    raise ReferenceError_(f"variant={dict(variant)!r} matches no variant in the spec "
                          f"({ {n: v['settings'] for n, v in spec.data['variants'].items()} })")


def run_reference(spec: Spec, inputs: Mapping[str, list], params: Mapping[str, list], *,
                  variant: Mapping[str, Any] | None = None, mode: str = "decimal",
                  trace: list | None = None) -> dict[str, list]:
    """Outputs (nested lists of float) of the spec's LSTM on nested-list inputs.

    `inputs` and `params` are keyed by the spec's names. If `trace` is a list, one
    dict of step quantities (as floats) per (t, b) is appended to it.
    """
    _, equations = resolve_variant(spec, variant or {})
    ops, functions, to_number, to_float = _backend(spec, mode)
    dims = _check_shapes(spec, inputs, params)
    with decimal.localcontext(scalar_math.DECIMAL_CONTEXT):
        p = {name: _convert(params[name], to_number, name) for name in spec.parameter_names}
        xs = {name: _convert(inputs[name], to_number, name) for name in spec.input_names}
        return _run(spec, equations, ops, functions, to_float, dims, p, xs, trace)


def _check_shapes(spec: Spec, inputs: Mapping[str, list], params: Mapping[str, list]) -> dict[str, int]:
    dims: dict[str, int] = {}
    # dimensions are read off the parameters first (they fix H and I), then the inputs
    for kind, given in (("parameters", params), ("inputs", inputs)):
        missing = [n for n in spec.data[kind] if n not in given]
        if missing:
            raise ReferenceError_(f"{kind} lack {missing}")
        for name, entry in spec.data[kind].items():
            shape = _shape(given[name])
            if len(shape) != len(entry["shape"]):
                raise ReferenceError_(f"{name} has shape {shape}, but should have {len(entry['shape'])} axes {entry['shape']}")
            for size, dim in zip(shape, entry["shape"]):
                if isinstance(dim, str) and dim in spec.data["dimensions"]:
                    dims.setdefault(dim, size)
    for kind, given in (("inputs", inputs), ("parameters", params)):
        for name in spec.data[kind]:
            want = spec.shape_of(kind, name, dims)
            if _shape(given[name]) != want:
                raise ReferenceError_(f"{name}.shape={_shape(given[name])}, but should be {want} [dims {dims}]")
    return dims


def preactivations(spec: Spec, equations: Mapping[str, Expression]) -> dict[str, Expression]:
    """For each equation of the form act(arg) with act an activation: "pre_<name>" -> arg."""
    out = {}
    for name, expr in equations.items():
        tree = expr.tree
        if isinstance(tree, ast.Call) and tree.func.id in spec.activations and len(tree.args) == 1:
            arg = ast.get_source_segment(expr.text, tree.args[0]) or ast.unparse(tree.args[0])
            out[f"pre_{name}"] = parse_expression(arg)
    return out


def _run(spec, equations, ops, functions, to_float, dims, p, xs, trace) -> dict[str, list]:
    T, B = dims["T"], dims["B"]
    traced = preactivations(spec, equations) if trace is not None else {}
    step_inputs = spec.step_inputs  # {"x_t": "x"}
    state_spec = spec.data["step"]["state"]
    # state[b][name]: the recurrent state of batch row b
    state = [{s: xs[e["init"]][b] for s, e in state_spec.items()} for b in range(B)]
    history: list[list[dict]] = []  # history[t][b]: that step's equation values
    for t in range(T):
        row_values = []
        for b in range(B):
            env = dict(p)
            env.update({step_name: xs[n][t][b] for step_name, n in step_inputs.items()})
            env.update(state[b])
            for name, expr in equations.items():
                env[name] = evaluate(expr, env, ops, functions)
            state[b] = {s: env[e["next"]] for s, e in state_spec.items()}
            row_values.append({name: env[name] for name in equations})
            if trace is not None:
                step = {k: _to_floats(env[k], to_float) for k in list(state_spec) + list(equations)}
                for name, expr in traced.items():
                    step[name] = _to_floats(evaluate(expr, env, ops, functions), to_float)
                trace.append({"t": t, "b": b, **step})
        history.append(row_values)
    outputs = {}
    for name, entry in spec.data["outputs"].items():
        src = entry["from"]
        if entry["take"] == "all_steps":
            outputs[name] = [[_to_floats(history[t][b][src], to_float) for b in range(B)] for t in range(T)]
        else:
            outputs[name] = [_to_floats(history[T - 1][b][src], to_float) for b in range(B)]
    return outputs


def _to_floats(value: Any, to_float: Callable[[Any], float]) -> Any:
    return apply(to_float, value)
