"""Declarative checks on the schema's fields: a field's annotation is its type and
`setting(gt=, ge=, le=, choices=, also=)` states the values it allows. `check_fields` (called
by `schema.build_spec`) checks every field it is given, so a bad value is one message naming
the key, the value and what is allowed, and a new setting only has to declare its range.
"""
from __future__ import annotations

import dataclasses
import re
import types
import typing
from typing import Any, Mapping

from xtransfer.errors import ConfigError

_CONSTRAINTS = "xtransfer"


def setting(*, gt: float | None = None, ge: float | None = None, le: float | None = None,
            choices: tuple | None = None, also: tuple = (), hint: str = "", **field_kwargs: Any):
    """A dataclass field with its allowed values: a range (gt/ge/le), or choices; `also` lists
    values allowed outside the range (max_steps: -1); `hint` is said after a bad value."""
    rule = {"gt": gt, "ge": ge, "le": le, "choices": choices, "also": also, "hint": hint}
    return dataclasses.field(metadata={_CONSTRAINTS: rule}, **field_kwargs)


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _options(hint: Any) -> tuple:
    """A union's members (X | None), else (hint,)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


def _matches(value: Any, hint: Any) -> bool:
    for option in _options(hint):
        origin = typing.get_origin(option) or option
        if option is Any:
            return True
        if option is type(None):
            if value is None:
                return True
        elif origin is bool:
            if isinstance(value, bool):
                return True
        elif origin is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return True
        elif origin is float:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return True
        elif origin in (list, tuple):
            args = typing.get_args(option)
            simple = args[:1] if args and args[0] in (str, int, float) else ()
            if isinstance(value, (list, tuple)) and all(_matches(v, simple[0]) for v in value if simple):
                return True
        elif origin is dict:
            if isinstance(value, Mapping):
                return True
        elif dataclasses.is_dataclass(origin):
            if isinstance(value, (origin, Mapping)):
                return True
        elif isinstance(origin, type):
            if isinstance(value, origin):
                return True
        else:
            return True  # a form we do not check (Literal, a forward reference)
    return False


_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string", list: "a list",
          tuple: "a list", dict: "a mapping", type(None): "null"}


def _describe_type(hint: Any) -> str:
    names = []
    for option in _options(hint):
        origin = typing.get_origin(option) or option
        name = _NAMES.get(origin, getattr(origin, "__name__", str(origin)))
        if origin in (list, tuple) and typing.get_args(option) and typing.get_args(option)[0] is str:
            name = "a list of strings"
        if name not in names:
            names.append(name)
    return " or ".join(names)


def _describe_rule(rule: dict[str, Any]) -> str:
    if rule["choices"] is not None:
        choices = list(rule["choices"])
        return f"{choices[0]!r} or {choices[1]!r}" if len(choices) == 2 else f"one of {choices}"
    bounds = [f"{op} {_number(rule[key])}" for key, op in (("gt", ">"), ("ge", ">="), ("le", "<="))
              if rule[key] is not None]
    text = " and ".join(bounds)
    return text + "".join(f" (or {v})" for v in rule["also"])


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _allowed(value: Any, rule: dict[str, Any]) -> bool:
    if value in rule["also"]:
        return True
    if rule["choices"] is not None:
        return value in rule["choices"]
    return ((rule["gt"] is None or value > rule["gt"]) and (rule["ge"] is None or value >= rule["ge"])
            and (rule["le"] is None or value <= rule["le"]))


def key_name(where: str, name: str) -> str:
    """`target.optim` + `lr` -> `target.optim.lr`; `task 'xnli'` + `source` -> `task 'xnli': source`."""
    if not where:
        return name
    return f"{where}.{name}" if re.fullmatch(r"[\w.]+", where) else f"{where}: {name}"


def check_fields(cls: type, data: Mapping[str, Any], where: str) -> None:
    """Raise ConfigError for the first value in `data` of the wrong type or outside its field's rule."""
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value, hint = data[f.name], hints[f.name]
        rule = f.metadata.get(_CONSTRAINTS)
        type_ok = _matches(value, hint)
        if type_ok and (rule is None or value is None or _allowed(value, rule)):
            continue
        null = " or null" if _matches(None, hint) else ""
        if rule is not None and (type_ok or rule["choices"] is not None):  # the right type, outside the rule
            expected = _describe_rule(rule) + null
        else:
            expected = _describe_type(hint).removesuffix(" or null")
            expected += (f" {_describe_rule(rule)}" if rule is not None else "") + null
        hint_text = f" ({rule['hint']})" if rule and rule["hint"] else ""
        raise ConfigError(f"{key_name(where, f.name)} must be {expected}, got {value!r}{hint_text}")


def check_spec(spec: Any, where: str) -> None:
    """check_fields on a spec built in code (not through build_spec)."""
    check_fields(type(spec), {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}, where)
