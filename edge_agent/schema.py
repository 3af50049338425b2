"""What the user reads about a pydantic settings tree: every validation
problem as one line naming its key path and what is allowed, and every key
with its type, default, allowed range and help text.

config.py declares the agent's tree as pydantic models (constraints in
``Field``: ge/le/gt, Literal, pattern; cross-field rules in model
validators); this module turns pydantic's errors and field metadata into
the wording of the CLI (``mqtt.port: must be 1-65535, got 70000``). A model
validator names the key it is about by starting its message with that
key's name and ``": "`` (``"reconnect_max_s: must be >= ..."``).
"""
from __future__ import annotations

import re
import types
import typing
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

__all__ = ["bounds", "describe_keys", "key_path", "problems", "type_name"]

_TYPES = {"bool_type": "true or false", "int_type": "a whole number", "int_from_float": "a whole number",
          "float_type": "a number", "string_type": "a string", "list_type": "a list", "model_type": "a mapping",
          "model_attributes_type": "a mapping", "dict_type": "a mapping"}
_BOUNDS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")


def key_path(loc: tuple[Any, ...]) -> str:
    """``('mqtt', 'command_keys', 0)`` as ``mqtt.command_keys[0]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _unwrap(tp: Any) -> Any:
    """The type inside ``Annotated[...]``."""
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def _options(tp: Any) -> list[Any]:
    """The members of a union (``X | None`` gives ``[X, None]``), else ``[tp]``."""
    tp = _unwrap(tp)
    if get_origin(tp) in (typing.Union, types.UnionType):
        return [_unwrap(a) for a in get_args(tp)]
    return [tp]


def _section(tp: Any) -> type[BaseModel] | None:
    """The model class that ``tp`` (or a member of its union) is, if any."""
    return next((a for a in _options(tp) if isinstance(a, type) and issubclass(a, BaseModel)), None)


def _walk(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[type[BaseModel] | None, FieldInfo | None]:
    """The model that holds the last key of ``loc`` and that key's field (None, None where ``loc`` is
    empty or goes into a list)."""
    holder: type[BaseModel] | None = model
    for i, part in enumerate(loc):
        if holder is None or isinstance(part, int):
            break
        info = holder.model_fields.get(part)
        if i == len(loc) - 1:
            return holder, info
        holder = _section(info.annotation) if info else None
    return None, None


def bounds(info: FieldInfo | None) -> str | None:
    """A field's allowed range as a user reads it: ``1-65535``, ``> 0``, ``>= 0``, ``<= 100``."""
    lo = hi = None
    for m in info.metadata if info else ():  # annotated_types' Ge, Gt, Le, Lt (from Field(ge=..., ...))
        for attr, op in (("ge", ">="), ("gt", ">")):
            lo = (op, getattr(m, attr)) if getattr(m, attr, None) is not None else lo
        for attr, op in (("le", "<="), ("lt", "<")):
            hi = (op, getattr(m, attr)) if getattr(m, attr, None) is not None else hi
    if lo and hi and lo[0] == ">=" and hi[0] == "<=":
        return f"{lo[1]}-{hi[1]}"
    return " and ".join(f"{b[0]} {b[1]}" for b in (lo, hi) if b) or None


def _allowed_text(info: FieldInfo | None) -> str | None:
    extra = info.json_schema_extra if info else None
    return extra.get("allowed") if isinstance(extra, dict) else None


def _explain(model: type[BaseModel], err: Any) -> tuple[str, str]:
    """(key path, what is wrong and what is allowed) for one pydantic error."""
    loc, kind, value, ctx = tuple(err["loc"]), err["type"], err.get("input"), err.get("ctx") or {}
    holder, info = _walk(model, loc)
    if kind == "extra_forbidden":
        allowed = ", ".join(holder.model_fields) if holder else "none"
        return key_path(loc), f"unknown key; allowed: {allowed}"
    if kind == "missing":
        return key_path(loc), "missing (required)" + (f": {info.description}" if info and info.description else "")
    if kind in _TYPES:
        return key_path(loc), f"must be {_TYPES[kind]}, got {value!r}"
    if kind == "literal_error":
        choices = re.findall(r"'(.*?)'", ctx.get("expected", ""))
        return key_path(loc), f"{value!r} is not allowed; allowed: {', '.join(choices)}"
    if kind in _BOUNDS:
        return key_path(loc), f"must be {bounds(info) or err['msg'].removeprefix('Input should be ')}, got {value!r}"
    if kind == "string_pattern_mismatch":
        allowed = _allowed_text(info) or f"text matching {ctx.get('pattern', '')}"
        return key_path(loc), f"{value!r} is not allowed; allowed: {allowed}"
    if kind == "value_error":
        message = str(ctx.get("error", err["msg"]))
        head, sep, rest = message.partition(": ")
        section = _section(info.annotation) if info else (None if loc else model)
        if sep and section is not None and head in section.model_fields:
            return key_path((*loc, head)), rest
        return key_path(loc), message
    return key_path(loc), err["msg"]


def problems(exc: ValidationError, model: type[BaseModel]) -> list[str]:
    """Every error of ``exc`` (raised validating ``model``) as ``key.path: what is wrong; allowed: ...``."""
    out = []
    for err in exc.errors(include_url=False):
        path, text = _explain(model, err)
        out.append(f"{path or 'config'}: {text}")
    return out


def type_name(tp: Any) -> str:
    """An annotation as a user reads it: ``int``, ``one of: a, b``, ``list of str``, ``str or null``."""
    options = _options(tp)
    if len(options) > 1:
        named = [type_name(a) for a in options if a is not type(None)]
        return " or ".join(named) + (" or null" if type(None) in options else "")
    tp = options[0]
    if get_origin(tp) is Literal:
        return "one of: " + ", ".join(map(str, get_args(tp)))
    if get_origin(tp) is list:
        return f"list of {type_name(get_args(tp)[0])}"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return "section"
    return getattr(tp, "__name__", str(tp))


def describe_keys(model: type[BaseModel], path: str = "") -> dict[str, dict[str, Any]]:
    """key path -> {type, default (absent when required), range, allowed, help}, sections included."""
    out: dict[str, dict[str, Any]] = {}
    for name, info in model.model_fields.items():
        key = f"{path}.{name}" if path else name
        section = _section(info.annotation)
        entry: dict[str, Any] = {"type": type_name(info.annotation), "help": info.description or ""}
        if not info.is_required():
            entry["default"] = None if section else info.get_default(call_default_factory=True)
        if (rng := bounds(info)) is not None:
            entry["range"] = rng
        if (allowed := _allowed_text(info)) is not None:
            entry["allowed"] = allowed
        out[key] = entry
        if section:
            out.update(describe_keys(section, key))
    return out
