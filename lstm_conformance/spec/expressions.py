"""The spec's expression language: parsed with `ast`, checked against a whitelist, never eval'd.

Grammar (a subset of Python expressions):
  numbers, names, `a + b`, `a - b`, `a * b`, `a / b`, `A @ v`, `-a`, `+a`, `f(a, ...)`,
  and, in invariants only, one comparison `a <= b` (also <, >=, >).
Evaluation walks the tree and hands every operation to an `Ops` object, so the
same parsed equation runs on Decimal lists (the reference), floats, or NumPy arrays.
"""
from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol

_BINOPS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.MatMult: "matvec"}
_UNARY = {ast.USub: "neg", ast.UAdd: "pos"}
_COMPARE = {ast.LtE: "le", ast.Lt: "lt", ast.GtE: "ge", ast.Gt: "gt"}
WHERE = "where"  # where(a <= b, x, y): elementwise x where the comparison holds, else y


class ExpressionError(ValueError):
    """An expression that does not parse, or uses something outside the whitelist."""


@dataclass(frozen=True)
class Expression:
    """A parsed, whitelisted expression."""

    text: str
    tree: ast.expr
    names: frozenset[str]      # variables read
    functions: frozenset[str]  # functions called

    def __str__(self) -> str:
        return self.text


def parse_expression(text: str, *, allow_compare: bool = False) -> Expression:
    """Parse `text`; raise ExpressionError naming the offending construct."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError(f"expression must be a non-empty string, got {text!r}")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ExpressionError(f"cannot parse {text!r}: {exc.msg} at column {exc.offset}") from None
    names: set[str] = set()
    functions: set[str] = set()
    _check(tree, text, names, functions, allow_compare, top=True)
    return Expression(text.strip(), tree, frozenset(names), frozenset(functions))


def _check(node: ast.AST, text: str, names: set, functions: set, allow_compare: bool, top: bool) -> None:
    def bad(what: str) -> ExpressionError:
        return ExpressionError(f"{what} is not allowed in {text!r} (column {getattr(node, 'col_offset', 0) + 1})")

    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise bad(f"constant {node.value!r}")
        if not math.isfinite(node.value):
            raise bad(f"the non-finite constant {node.value!r}")
    elif isinstance(node, ast.Name):
        names.add(node.id)
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _BINOPS:
            raise bad(f"operator {type(node.op).__name__}")
        _check(node.left, text, names, functions, allow_compare, False)
        _check(node.right, text, names, functions, allow_compare, False)
    elif isinstance(node, ast.UnaryOp):
        if type(node.op) not in _UNARY:
            raise bad(f"operator {type(node.op).__name__}")
        _check(node.operand, text, names, functions, allow_compare, False)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            raise bad("calling anything but a plain function name")
        if node.keywords:
            raise bad("keyword arguments")
        if not node.args:
            raise bad(f"calling {node.func.id}() with no arguments")
        functions.add(node.func.id)
        for k, arg in enumerate(node.args):
            if isinstance(arg, ast.Starred):
                raise bad("*args")
            if node.func.id == WHERE and k == 0:  # where(comparison, a, b): the one place a comparison may stand
                if not isinstance(arg, ast.Compare):
                    raise ExpressionError(f"where() needs a comparison as its first argument in {text!r}")
                _check(arg, text, names, functions, True, True)
                continue
            _check(arg, text, names, functions, allow_compare, False)
    elif isinstance(node, ast.Compare):
        if not (allow_compare and top):
            raise bad("a comparison")
        if len(node.ops) != 1 or type(node.ops[0]) not in _COMPARE:
            raise bad("this comparison")
        _check(node.left, text, names, functions, allow_compare, False)
        _check(node.comparators[0], text, names, functions, allow_compare, False)
    else:
        raise bad(type(node).__name__)


class Ops(Protocol):
    """The arithmetic an evaluator needs; each backend supplies its own."""

    def const(self, value: float) -> Any: ...
    def add(self, a: Any, b: Any) -> Any: ...
    def sub(self, a: Any, b: Any) -> Any: ...
    def mul(self, a: Any, b: Any) -> Any: ...
    def div(self, a: Any, b: Any) -> Any: ...
    def matvec(self, a: Any, b: Any) -> Any: ...
    def neg(self, a: Any) -> Any: ...


def evaluate(expr: Expression, env: Mapping[str, Any], ops: Any,
             functions: Mapping[str, Callable[..., Any]]) -> Any:
    """Evaluate `expr` with variables from `env` and calls from `functions`."""
    return _eval(expr.tree, expr.text, env, ops, functions)


def _eval(node: ast.expr, text: str, env: Mapping[str, Any], ops: Any,
          functions: Mapping[str, Callable[..., Any]]) -> Any:
    if isinstance(node, ast.Constant):
        return ops.const(node.value)
    if isinstance(node, ast.Name):
        if node.id not in env:
            raise ExpressionError(f"name {node.id!r} is not defined when evaluating {text!r}")
        return env[node.id]
    if isinstance(node, ast.BinOp):
        left = _eval(node.left, text, env, ops, functions)
        right = _eval(node.right, text, env, ops, functions)
        return getattr(ops, _BINOPS[type(node.op)])(left, right)
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand, text, env, ops, functions)
        return operand if isinstance(node.op, ast.UAdd) else ops.neg(operand)
    if isinstance(node, ast.Call):
        name = node.func.id  # type: ignore[attr-defined]
        if name not in functions:
            raise ExpressionError(f"function {name!r} is not defined when evaluating {text!r}")
        args = [_eval(arg, text, env, ops, functions) for arg in node.args]
        return functions[name](*args)
    if isinstance(node, ast.Compare):
        left = _eval(node.left, text, env, ops, functions)
        right = _eval(node.comparators[0], text, env, ops, functions)
        return getattr(ops, _COMPARE[type(node.ops[0])])(left, right)
    raise ExpressionError(f"unsupported node {type(node).__name__} in {text!r}")


class ShapeOps:
    """Evaluates shapes instead of values: () scalar, (n,) vector, (r, c) matrix."""

    def const(self, value: float) -> tuple:
        return ()

    def _same(self, a: tuple, b: tuple, op: str) -> tuple:
        if a == () or a == b:
            return b
        if b == ():
            return a
        raise ExpressionError(f"{op} of shapes {a} and {b}: they should be equal, or one a scalar")

    def add(self, a, b): return self._same(a, b, "+")
    def sub(self, a, b): return self._same(a, b, "-")
    def mul(self, a, b): return self._same(a, b, "*")
    def div(self, a, b): return self._same(a, b, "/")
    def le(self, a, b): return self._same(a, b, "<=")
    def lt(self, a, b): return self._same(a, b, "<")
    def ge(self, a, b): return self._same(a, b, ">=")
    def gt(self, a, b): return self._same(a, b, ">")
    def neg(self, a): return a

    def matvec(self, a: tuple, b: tuple) -> tuple:
        if len(a) != 2 or len(b) != 1 or a[1] != b[0]:
            raise ExpressionError(f"@ of shapes {a} and {b}: it should be a matrix (r, c) times a vector (c,)")
        return (a[0],)


def elementwise_shape_function(name: str) -> Callable[..., tuple]:
    """A unary elementwise function for ShapeOps: checks it gets exactly one argument."""
    def fn(*args: tuple) -> tuple:
        if len(args) != 1:
            raise ExpressionError(f"{name}() takes one argument, got {len(args)}")
        return args[0]
    return fn


def binary_shape_function(name: str) -> Callable[..., tuple]:
    """An elementwise function of two operands for ShapeOps (a scalar broadcasts)."""
    def fn(*args: tuple) -> tuple:
        if len(args) != 2:
            raise ExpressionError(f"{name}() takes two arguments, got {len(args)}")
        return ShapeOps()._same(args[0], args[1], f"{name}()")
    return fn


def where_shape_function(*args: tuple) -> tuple:
    """where(condition, a, b) for ShapeOps: the three shapes broadcast together (a scalar broadcasts)."""
    if len(args) != 3:
        raise ExpressionError(f"where() takes three arguments, got {len(args)}")
    ops = ShapeOps()
    return ops._same(ops._same(args[0], args[1], "where()"), args[2], "where()")


def mean_shape_function(*args: tuple) -> tuple:
    """mean(v) for ShapeOps: the mean over a vector's units, a scalar."""
    if len(args) != 1 or len(args[0]) != 1:
        raise ExpressionError(f"mean() takes one vector, got shapes {list(args)}")
    return ()
