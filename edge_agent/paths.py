"""Where things live on a box: the packaged model, the compiled-model cache
and the writable state.

Each has one default, chosen here so that the CLI, the agent, doctor and the
benchmarks agree: under systemd the unit's ``CacheDirectory=`` and
``StateDirectory=`` (passed as environment variables), elsewhere the user's
cache and the working directory. ``$EDGE_AGENT_MODEL`` points every command
at another bundle without a flag.
"""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

STORE_FOLDER = "models"  # the model store under the state directory (see updates/store.py)


def default_model_path() -> Path:
    """$EDGE_AGENT_MODEL, else the bundle installed with the package (in the
    wheel through package-data, see pyproject.toml)."""
    env = os.environ.get("EDGE_AGENT_MODEL")
    return Path(env) if env else Path(str(resources.files("edge_agent") / "models" / "default"))


def default_cache_dir() -> Path:
    """systemd's CacheDirectory= when run as a service, else ~/.cache."""
    base = os.environ.get("CACHE_DIRECTORY") or os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base.split(":")[0]) / "edge-agent" / "compiled"


def state_dir(configured: str | None) -> Path:
    """The configured state directory, else systemd's StateDirectory=, else ./state."""
    return Path(configured or os.environ.get("STATE_DIRECTORY", "state").split(":")[0])


def under_state(state: Path, folder: str) -> Path:
    """A configured folder: absolute as given, relative under the state directory."""
    return Path(folder) if Path(folder).is_absolute() else state / folder
