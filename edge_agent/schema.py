"""A typed tree of settings from YAML: dataclasses whose fields carry their
help text, built from plain values with every key checked.

Unknown keys are refused with their path (a typo must not silently fall back
to a default), values are converted by their annotations (bool, int, float,
str, Literal, list, optional and nested dataclasses) and each class may check
rules spanning its fields in ``validate(path)``. config.py declares the
agent's tree with this; the same machinery serves any later tree.
"""
from __future__ import annotations

import types
import typing
from dataclasses import MISSING, field, fields
from typing import Any, Literal, get_args, get_origin, get_type_hints

from .errors import ConfigError


def describe(text: str, default: Any = MISSING, **kw: Any) -> Any:
    """A dataclass field with its help text (shown by `edge-agent config describe`)."""
    if default is MISSING and "default_factory" not in kw:
        return field(metadata={"help": text}, **kw)
    return field(default=default, metadata={"help": text}, **kw)


def positive(value: float, path: str) -> None:
    """Refuse zero and negative values of a duration or size."""
    if value <= 0:
        raise ConfigError(f"{path} must be > 0, got {value}")


def build(cls: type, raw: Any, path: str) -> Any:
    """An instance of dataclass ``cls`` from the mapping ``raw`` at key path ``path``."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{path or 'config'} must be a mapping, got {type(raw).__name__}")
    hints = get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        where = f"{path}." if path else ""
        raise ConfigError(f"unknown key {where}{unknown[0]}; allowed: {', '.join(known)}")
    values = {}
    for name, f in known.items():
        key = f"{path}.{name}" if path else name
        if name in raw:
            values[name] = _convert(hints[name], raw[name], key)
        elif f.default is MISSING and f.default_factory is MISSING:
            raise ConfigError(f"missing key {key}: {f.metadata.get('help', '')}")
    obj = cls(**values)
    if hasattr(obj, "validate"):
        obj.validate(path or "config")
    return obj


def _convert(tp: Any, value: Any, key: str) -> Any:
    """``value`` as the annotation ``tp`` asks; a ConfigError naming ``key`` otherwise."""
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _convert(options[0], value, key)
    if origin is Literal:
        allowed = get_args(tp)
        if str(value) not in [str(a) for a in allowed]:
            raise ConfigError(f"{key} {value!r} is not allowed; allowed: {', '.join(map(str, allowed))}")
        return str(value)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        return [_convert(get_args(tp)[0], v, f"{key}[{i}]") for i, v in enumerate(value)]
    if isinstance(tp, type) and hasattr(tp, "__dataclass_fields__"):
        return build(tp, value, key)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if tp in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (tp is int and not float(value).is_integer()):
            raise ConfigError(f"{key} must be a number{' (whole)' if tp is int else ''}, got {value!r}")
        return tp(value)
    if tp is str:
        if not isinstance(value, (str, int)):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return str(value)
    raise ConfigError(f"{key}: unsupported type {tp}")


def describe_tree(cls: type, path: str = "") -> list[str]:
    """One line per key with its help text ."""
    lines = []
    hints = get_type_hints(cls)
    for f in fields(cls):
        key = f"{path}.{f.name}" if path else f.name
        tp = hints[f.name]
        inner = [a for a in get_args(tp) if hasattr(a, "__dataclass_fields__")] or (
            [tp] if hasattr(tp, "__dataclass_fields__") else [])
        lines.append(f"{key}: {f.metadata.get('help', '')}")
        if inner:
            lines += describe_tree(inner[0], key)
    return lines
