"""One loader for the training recipes' YAML files (export/configs/*.yaml).

Why: a recipe is typed by hand, and PyYAML reads ``5e-05`` (no dot) as a string, which used to reach
the optimiser and end in a traceback an hour of set-up later. Every recipe goes through pydantic's
validation of its dataclass: unknown keys are refused, numbers written as strings are read as numbers,
lists become the dataclass's tuples, and anything else ends in one line naming the file, the key and
what is allowed.
"""
from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import pydantic
import yaml

T = TypeVar("T")


def load_recipe(cls: type[T], path: Path) -> T:
    """The dataclass ``cls`` filled from the YAML mapping at ``path``; SystemExit with one line on bad input."""
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise SystemExit(f"error: {path}: cannot read the recipe ({exc.strerror}); allowed: a readable YAML file") from None
    except yaml.YAMLError as exc:
        raise SystemExit(f"error: {path}: not valid YAML ({str(exc).splitlines()[0]}); allowed: a YAML mapping") from None
    if not isinstance(raw, dict):
        raise SystemExit(f"error: {path}: a {type(raw).__name__}, not a mapping; allowed: a YAML mapping of keys")
    fields = cls.__dataclass_fields__  # type: ignore[attr-defined]
    unknown = set(raw) - set(fields)
    if unknown:
        raise SystemExit(f"error: {path}: unknown keys {sorted(unknown)}; allowed: {sorted(fields)}")
    try:
        return pydantic.TypeAdapter(cls).validate_python(raw)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        expected = fields[first["loc"][0]].type if first["loc"] and first["loc"][0] in fields else "?"
        raise SystemExit(f"error: {path}: {key}: {first['msg']} (got {first['input']!r}); "
                         f"allowed: {expected}") from None
