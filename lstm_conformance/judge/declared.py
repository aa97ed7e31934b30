"""The conventions an adapter declares (`conventions = {name: value}`), resolved against the spec.

Two kinds, both in spec/lstm.yaml:
- a value of a feature that has goldens of its own (a feature with a `flag`, e.g. empty_rows=zeros):
  the implementation is judged on the goldens of that value, and skipped on the canonical goldens
  the feature matters in;
- a derived convention (`derived_conventions`, e.g. layout=batch_first): no goldens of its own; the
  implementation is judged on the canonical goldens in the cases `applies_when` names, given the
  canonical inputs through `feed` and judged on its outputs through `read` (the transforms of
  spec/conventions.yaml). The adapter hands back what its framework returned.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ..run.adapters import AdapterError
from ..diagnosis.conventions import FEED_INPUTS, READ, Hypothesis, _checked, case_context, feed, read
from ..cases.golden import GoldenCase
from ..spec.loader import Spec, SpecError

Arrays = dict[str, np.ndarray]


@dataclass(frozen=True)
class Derived:
    name: str           # the convention's name (layout, reverse_output, lengths)
    value: str          # the value declared (batch_first, ...)
    transforms: Hypothesis

    def applies(self, spec: Spec, variant: Mapping[str, Any]) -> bool:
        return self.transforms.applies(spec, variant)

    @property
    def label(self) -> str:
        return f"{self.name}={self.value}"


@dataclass(frozen=True)
class Declared:
    """An adapter's conventions, resolved: `goldens` those judged on goldens of their own (feature ->
    value), `derived` those the harness applies (in the spec's order)."""

    goldens: dict[str, str]
    derived: tuple[Derived, ...]

    def applied(self, spec: Spec, variant: Mapping[str, Any]) -> list[Derived]:
        """The derived conventions that apply to a case of `variant`, in the order they are undone."""
        return [d for d in self.derived if d.applies(spec, variant)]


NONE = Declared({}, ())


def derived_conventions(spec: Spec) -> dict[str, dict[str, Derived]]:
    """Every derived convention of the spec: name -> value -> Derived (the spec loader has checked them)."""
    try:
        return checked_derived(spec)
    except DerivedError as exc:
        raise SpecError(spec.path, exc.keypath, exc.message) from None


class DerivedError(ValueError):
    def __init__(self, keypath: tuple, message: str) -> None:
        super().__init__(message)
        self.keypath, self.message = keypath, message


def checked_derived(spec: Spec) -> dict[str, dict[str, Derived]]:
    """Every derived convention, checked (DerivedError with the key path for a transform, a name or a
    condition the spec cannot carry); the spec loader calls it on every spec it loads."""
    out: dict[str, dict[str, Derived]] = {}
    features = spec.data["features"]
    for name, entry in (spec.data.get("derived_conventions") or {}).items():
        out[name] = {}
        if entry["default"] in entry["values"]:
            raise DerivedError(("derived_conventions", name, "default"), f"{entry['default']!r} is the default: it "
                               f"needs no transforms and is not among the values")
        for value, conv in entry["values"].items():
            keypath = ("derived_conventions", name, "values", value)
            for kind, allowed in (("feed", FEED_INPUTS), ("read", READ)):
                unknown = set(conv.get(kind, {})) - set(allowed)
                if unknown:  # a parameter transform (FEED) would be a model change, not a view of the same one
                    raise DerivedError(keypath + (kind,), f"unknown transforms {sorted(unknown)}; {kind} takes "
                                                          f"{sorted(allowed)}")
            if name in features and value in (features[name].get("values") or {}):
                raise DerivedError(keypath, f"{value!r} is also a value of features.{name}; a derived convention "
                                            f"needs a name of its own")
            hyp = Hypothesis(f"{name}={value}", " ".join(conv["description"].split()), dict(conv.get("feed", {})),
                             dict(conv.get("read", {})), applies_when=tuple(conv.get("applies_when", ())))
            try:
                out[name][value] = Derived(name, value, _checked(spec, hyp, spec.path))
            except ValueError as exc:
                raise DerivedError(keypath, str(exc)) from None
    return out


def resolve(spec: Spec, conventions: Mapping[str, Any] | None) -> Declared:
    """An adapter's `conventions`, resolved (AdapterError naming what the spec has for an unknown one)."""
    if not conventions:
        return NONE
    features, derived = spec.data["features"], derived_conventions(spec)
    flagged = {f: sorted(e["values"]) for f, e in features.items() if "flag" in e}
    goldens, applied = {}, []
    for name, value in conventions.items():
        if name in flagged and value in flagged[name]:
            goldens[name] = value
        elif name in derived and value in derived[name]:
            applied.append(derived[name][value])
        elif name in derived and value == spec.data["derived_conventions"][name]["default"]:
            raise AdapterError(f"the adapter declares conventions {{{name!r}: {value!r}}}, which is the default: "
                               f"leave it out")
        else:
            known = {**flagged, **{n: sorted(v) for n, v in derived.items()}}
            raise AdapterError(f"the adapter declares conventions {{{name!r}: {value!r}}}, but the spec has no such "
                               f"convention: it has {known}")
    order = list(derived)
    applied.sort(key=lambda d: order.index(d.name))
    return Declared(goldens, tuple(applied))


def skip_reason(spec: Spec, declared: Declared, case: GoldenCase) -> str | None:
    """Why a case is not judged under the declared golden conventions: its variant names another value,
    or it is a canonical case the feature matters in (flagged with the feature's `flag`)."""
    features = spec.data["features"]
    for feature, value in sorted(declared.goldens.items()):
        if feature in case.variant:
            if case.variant[feature] != value:
                return f"follows {feature}={value}; this case is judged under {feature}={case.variant[feature]}"
        elif features[feature]["flag"] in case.flags and value != features[feature]["default"]:
            return f"follows {feature}={value}; this case is judged under the canonical {feature}=" \
                   f"{features[feature]['default']}"
    return None


def judged_under(spec: Spec, declared: Declared, variant: Mapping[str, Any]) -> list[str]:
    """The declared conventions a case of `variant` is judged under, as NAME=VALUE."""
    own = [f"{f}={v}" for f, v in sorted(declared.goldens.items()) if variant.get(f) == v]
    return own + [d.label for d in declared.applied(spec, variant)]


def to_implementation(spec: Spec, applied: list[Derived], variant: Mapping[str, Any], inputs: Arrays) -> Arrays:
    """The canonical inputs as an implementation that follows `applied` reads them."""
    for conv in applied:
        inputs, _ = feed(spec, conv.transforms, inputs, {}, variant)
    return inputs


def from_implementation(spec: Spec, applied: list[Derived], variant: Mapping[str, Any], inputs: Arrays,
                        outputs: Any) -> Any:
    """The implementation's outputs with `applied` undone (`inputs`: the canonical ones). Anything that is
    not named arrays is passed on untouched, for the judge to report."""
    if not applied or not isinstance(outputs, dict) or \
            not all(isinstance(a, np.ndarray) for a in outputs.values()):
        return outputs
    ctx = case_context(spec, variant, inputs)
    for conv in applied:
        try:
            outputs = read(conv.transforms, outputs, ctx)
        except (KeyError, ValueError, IndexError) as exc:
            raise ValueError(f"its outputs do not fit the declared {conv.label} ({type(exc).__name__}: {exc})") from None
    return outputs
