"""The spec's `packings:` section parsed into blocks, with their shapes and load-time checks.

Pure Python (no NumPy), so the spec loader can check packings; the arrays are
converted by convert.py. A block is a canonical parameter (maybe
transposed), a concatenation of blocks along an axis, or an `extra` copy of
parameters (zeros on export, summed on import). `stack_gates` is expanded here
into a concatenation over the packing's gate order, so nothing downstream knows
about gate orders.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence, Union

_PARAM = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(\.T)?$")


@dataclass(frozen=True)
class Param:
    name: str
    transpose: bool = False


@dataclass(frozen=True)
class Concat:
    parts: tuple["Block", ...]
    axis: int


@dataclass(frozen=True)
class Extra:
    block: "Block"


Block = Union[Param, Concat, Extra]


@dataclass(frozen=True)
class Tensor:
    name: str
    shape: tuple[Any, ...]  # dimension expressions, as in the spec
    block: Block
    when: str | None = None  # a cell feature: the tensor exists only when it is set, and holds its parameters


@dataclass(frozen=True)
class Packing:
    name: str
    description: str
    gate_order: tuple[str, ...]
    gate_names: dict[str, str]
    adds_at_run_time: dict[str, float]
    tensors: dict[str, Tensor]

    def framework_gate_order(self) -> str:
        """The gate order in the framework's own letters, e.g. "i,o,f,c"."""
        return ",".join(self.gate_names.get(g, g) for g in self.gate_order)


class PackingError(ValueError):
    """A packing entry that does not make sense; `keypath` is relative to the packing."""

    def __init__(self, keypath: Sequence[Any], message: str) -> None:
        self.keypath = tuple(keypath)
        super().__init__(message)


def parse_packing(name: str, entry: Mapping[str, Any], gates: Sequence[str], params: Sequence[str],
                  feature_params: Mapping[str, Sequence[str]] | None = None) -> Packing:
    """One schema-valid entry of `packings:` as a Packing; PackingError for semantic problems.

    `feature_params`: cell feature -> the parameters it adds; a tensor with `when: FEATURE` holds those
    (every one of them exactly once), the others hold `params`."""
    feature_params = dict(feature_params or {})
    order = tuple(entry["gate_order"])
    if sorted(order) != sorted(gates):
        raise PackingError(("gate_order",), f"gate_order={list(order)}, but should be an ordering of the spec's gates {list(gates)}")
    for gate in entry.get("gate_names", {}):
        if gate not in gates:
            raise PackingError(("gate_names", gate), f"unknown gate {gate!r}; the spec's gates are {list(gates)}")
    for pname in entry.get("adds_at_run_time", {}):
        if pname not in params:
            raise PackingError(("adds_at_run_time", pname), f"unknown parameter {pname!r}")
    tensors = {}
    for tname, t in entry["tensors"].items():
        when = t.get("when")
        if when is not None and when not in feature_params:
            raise PackingError(("tensors", tname, "when"), f"{when!r} is not a cell feature with parameters; those are "
                                                          f"{sorted(feature_params)}")
        names = feature_params[when] if when is not None else params
        block = _parse_block(t["block"], order, None, ("tensors", tname, "block"), names)
        tensors[tname] = Tensor(tname, tuple(t["shape"]), block, when)
    packing = Packing(name, entry["description"], order, dict(entry.get("gate_names", {})),
                      {k: float(v) for k, v in entry.get("adds_at_run_time", {}).items()}, tensors)
    _check_coverage(packing, params, [t for t in tensors.values() if t.when is None])
    for feature in {t.when for t in tensors.values() if t.when is not None}:
        _check_coverage(packing, feature_params[feature], [t for t in tensors.values() if t.when == feature])
    return packing


def _parse_block(raw: Any, order: tuple[str, ...], gate: str | None, keypath: tuple, params: Sequence[str]) -> Block:
    if isinstance(raw, str):
        text = raw
        if "{gate}" in text:
            if gate is None:
                raise PackingError(keypath, f"{raw!r} uses {{gate}} outside stack_gates")
            text = text.replace("{gate}", gate)
        m = _PARAM.match(text)
        if not m:
            raise PackingError(keypath, f"{raw!r} is not a parameter name, optionally followed by .T")
        if m.group(1) not in params:
            raise PackingError(keypath, f"{text!r} is not a canonical parameter; they are {list(params)}")
        return Param(m.group(1), bool(m.group(2)))
    if "extra" in raw:
        return Extra(_parse_block(raw["extra"], order, gate, keypath + ("extra",), params))
    if "concat" in raw:
        parts = tuple(_parse_block(p, order, gate, keypath + ("concat", k), params) for k, p in enumerate(raw["concat"]))
        return Concat(parts, raw["axis"])
    parts = tuple(_parse_block(raw["stack_gates"], order, g, keypath + ("stack_gates",), params) for g in order)
    return Concat(parts, raw["axis"])


def leaves(block: Block, extra: bool = False) -> list[tuple[Param, bool]]:
    """Every parameter a block names, with whether it sits inside an `extra`."""
    if isinstance(block, Param):
        return [(block, extra)]
    if isinstance(block, Extra):
        return leaves(block.block, True)
    return [leaf for part in block.parts for leaf in leaves(part, extra)]


def _check_coverage(packing: Packing, params: Sequence[str], tensors: Sequence[Tensor]) -> None:
    seen: dict[str, str] = {}
    for t in tensors:
        for p, extra in leaves(t.block):
            if extra:
                continue
            if p.name in seen:
                raise PackingError(("tensors", t.name, "block"),
                                  f"{p.name} appears in both {seen[p.name]} and {t.name}; every parameter appears "
                                  f"exactly once outside `extra`")
            seen[p.name] = t.name
    missing = [p for p in params if p not in seen]
    if missing:
        raise PackingError(("tensors",), f"no tensor holds {missing}; every parameter appears exactly once outside `extra`")


def block_shape(block: Block, param_shape: Callable[[str], tuple[int, ...]]) -> tuple[int, ...]:
    """The shape a block builds, given each canonical parameter's shape."""
    if isinstance(block, Param):
        shape = param_shape(block.name)
        if block.transpose:
            if len(shape) != 2:
                raise PackingError((), f"{block.name}.T: only a matrix can be transposed, but {block.name} has shape {shape}")
            shape = shape[::-1]
        return tuple(shape)
    if isinstance(block, Extra):
        return block_shape(block.block, param_shape)
    shapes = [block_shape(p, param_shape) for p in block.parts]
    ndim = len(shapes[0])
    if not 0 <= block.axis < ndim:
        raise PackingError((), f"axis={block.axis}, but the blocks joined have {ndim} axes")
    rest = {s[:block.axis] + s[block.axis + 1:] for s in shapes}
    if any(len(s) != ndim for s in shapes) or len(rest) != 1:
        raise PackingError((), f"cannot join shapes {shapes} along axis {block.axis}")
    return shapes[0][:block.axis] + (sum(s[block.axis] for s in shapes),) + shapes[0][block.axis + 1:]


def fits(declared: Sequence[int], built: Sequence[int]) -> bool:
    """A declared tensor shape can hold a built block: equal up to unit axes."""
    return [d for d in declared if d != 1] == [b for b in built if b != 1]
