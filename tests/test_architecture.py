"""The runtime's layout holds: which room may import which, no training or
evaluation dependency in the runtime, and files and functions of a size one
can read (see ARCHITECTURE.md). Read from the source with ``ast``, so a rule
broken by a lazy import inside a function fails here too."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "edge_agent"
ROOMS = ("runtime", "agent", "mqtt", "updates", "cli")  # subpackages
SHARED = {"__init__", "config", "errors", "fsutil", "media", "paths", "progress", "schema"}  # modules every room may use
# room -> the rooms it may import (its own included)
ALLOWED = {
    "shared": {"shared"},
    "runtime": {"runtime", "shared"},
    "measure": {"measure", "runtime", "shared"},
    "mqtt": {"mqtt", "shared"},
    "updates": {"updates", "runtime", "mqtt", "shared"},
    "agent": {"agent", "updates", "mqtt", "runtime", "shared"},
    "cli": {"cli", "agent", "updates", "mqtt", "runtime", "measure", "shared"},
    "entry": {"cli"},  # __main__.py: `python -m edge_agent` is the console script
}
# the runtime's own dependencies (pyproject's [project] dependencies): nothing from the export,
# test or bench extras (torch, onnx, nncf, scikit-*, matplotlib) may creep in
THIRD_PARTY = {"numpy", "cv2", "onnxruntime", "openvino", "yaml", "paho", "cryptography", "tqdm", "psutil", "pydantic"}
MAX_FILE_LINES = 300
MAX_FUNCTION_LINES = 60


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def room_of(module: str) -> str:
    """The room of an absolute module name inside edge_agent."""
    parts = module.split(".")[1:]
    if not parts or parts[0] in SHARED:
        return "shared"
    if parts[0] in ROOMS:
        return parts[0]
    if parts[0] == "__main__":
        return "entry"
    if parts[0] == "measure":
        return "measure"
    raise AssertionError(f"{module} is in no room; add it to ROOMS, SHARED or ALLOWED (and to ARCHITECTURE.md)")


def is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports(source: str, package: str) -> list[tuple[int, str]]:
    """(line, absolute module) for every import in ``source`` (a module of
    ``package``), lazy ones included; ``from pkg import name`` also yields
    ``pkg.name`` when that is a module of ours."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names
                      if base.split(".")[0] == "edge_agent" and is_module(f"{base}.{alias.name}")]
    return found


def file_imports(path: Path) -> list[tuple[int, str]]:
    name = module_name(path)
    return imports(path.read_text(), name if path.name == "__init__.py" else name.rsplit(".", 1)[0])


def broken_rules(room: str, found: list[tuple[int, str]]) -> list[str]:
    return [f"line {line} ({room}) imports {target} ({room_of(target)})" for line, target in found
            if target.split(".")[0] == "edge_agent" and room_of(target) not in ALLOWED[room]]


def test_every_room_imports_only_the_rooms_it_may():
    broken = [f"{path.relative_to(ROOT)}: {problem}" for path in modules()
              for problem in broken_rules(room_of(module_name(path)), file_imports(path))]
    assert not broken, "import rules broken (see ARCHITECTURE.md):\n" + "\n".join(broken)


def test_the_box_side_of_updates_knows_no_mqtt():
    """Only the fleet manager's side of updates/ is an MQTT client; the box's
    side (checks, install, controller, store) acts through callbacks."""
    broken = [f"{path.relative_to(ROOT)}:{line} imports {target}"
              for path in sorted((PACKAGE / "updates").glob("*.py")) if path.name != "fleet.py"
              for line, target in file_imports(path) if target.startswith("edge_agent.mqtt")]
    assert not broken, "\n".join(broken)


def test_the_runtime_needs_only_its_own_dependencies():
    """No torch (or any export/test/bench extra), and nothing from the checkout's toolchains."""
    stdlib = set(sys.stdlib_module_names)
    broken = [f"{path.relative_to(ROOT)}:{line} imports {target}"
              for path in modules() for line, target in file_imports(path)
              if target and target.split(".")[0] not in stdlib | THIRD_PARTY | {"edge_agent", "__future__"}]
    assert not broken, "\n".join(broken)


def test_toolchains_use_the_runtime_not_the_cli():
    """export/, calibration/ and benchmarks/ import the runtime's public modules, never CLI helpers."""
    broken = [f"{path.relative_to(ROOT)}:{line} imports {target}"
              for folder in ("export", "calibration", "benchmarks") for path in sorted((ROOT / folder).rglob("*.py"))
              for line, target in file_imports(path) if target.startswith("edge_agent.cli")]
    assert not broken, "\n".join(broken)


def test_files_and_functions_fit_on_a_screen():
    too_long = []
    for path in modules():
        text = path.read_text()
        lines = len(text.splitlines())
        if lines > MAX_FILE_LINES:
            too_long.append(f"{path.relative_to(ROOT)}: {lines} lines (at most {MAX_FILE_LINES})")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {length} lines "
                                    f"(at most {MAX_FUNCTION_LINES})")
    assert not too_long, "\n".join(too_long)


def test_type_hints_throughout():
    """Every function states its parameter and return types (lambdas aside)."""
    missing = []
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
                bare = [a.arg for a in args if a.annotation is None and a.arg not in ("self", "cls")]
                bare += [f"*{a.arg}" for a in (node.args.vararg, node.args.kwarg) if a is not None and a.annotation is None]
                if bare or node.returns is None:
                    missing.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} {bare or 'return'}")
    assert not missing, "\n".join(missing)


def test_every_module_says_what_it_is_for():
    missing = [str(path.relative_to(ROOT)) for path in modules()
               if path.name != "__main__.py" and not ast.get_docstring(ast.parse(path.read_text()))]
    assert not missing, f"modules without a docstring: {missing}"


def test_the_checker_catches_broken_rules():
    """The checker itself, on sources that break the rules the ways people do."""
    runtime = "edge_agent.runtime"
    assert broken_rules("runtime", imports("from ..agent.loop import Agent\n", runtime))
    assert broken_rules("runtime", imports("def f():\n    from edge_agent.mqtt import topics\n", runtime))
    assert broken_rules("agent", imports("from .. import cli\n", "edge_agent.agent"))
    assert broken_rules("mqtt", imports("from ..updates.protocol import Offer\n", "edge_agent.mqtt"))
    assert not broken_rules("runtime", imports("from ..errors import UserError\nfrom .bundle import Bundle\n", runtime))
