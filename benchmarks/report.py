"""Where every benchmark script puts its result: OUT.json (the numbers), OUT.md
(the table the README quotes), and the table on stdout."""
from __future__ import annotations

import json
from pathlib import Path


def write_report(out: Path, result: dict, table: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    out.with_suffix(".md").write_text(table)
    print(table)


def write_json(out: Path, result: dict) -> None:
    """A result with no table: OUT (a .json path) and the same on stdout."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
