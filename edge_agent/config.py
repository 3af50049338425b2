"""The agent's configuration: one validated tree, loaded once.

Every section is a dataclass whose fields carry a description; unknown keys
are rejected with their path, values are type- and range-checked, and rules
that span fields live in ``validate`` methods. Secrets (MQTT password, TLS
key passphrase) are never read from the YAML: a ``*_env`` field names an
environment variable and a ``*_credential`` field names a systemd credential
(``LoadCredential=`` puts it under ``$CREDENTIALS_DIRECTORY``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from .errors import ConfigError
from .paths import state_dir
from .schema import build, describe, describe_tree, positive

__all__ = ["AgentConfig", "CameraConfig", "ConfigError", "ModelConfig", "MqttConfig", "OutputsConfig",
           "SegmentsConfig", "TlsConfig", "UpdatesConfig", "describe_config", "load_config", "parse_config"]


@dataclass
class CameraConfig:
    """``camera``: the frame source and how hard to hold on to it."""

    source: str = describe("rtsp://, http(s):// URL, a V4L2 index (0) or /dev/videoN, a video file or an image folder")
    loop: bool = describe("restart a video file or folder at its end", False)
    fps_limit: float = describe("process at most this many frames per second (0 = as fast as possible)", 0.0)
    reconnect_initial_s: float = describe("first wait before reconnecting a lost camera", 1.0)
    reconnect_max_s: float = describe("longest wait between reconnect attempts (exponential backoff)", 30.0)
    watchdog_s: float = describe("a camera silent for this long is reconnected (a read can hang)", 10.0)

    def validate(self, path: str) -> None:
        positive(self.reconnect_initial_s, f"{path}.reconnect_initial_s")
        positive(self.watchdog_s, f"{path}.watchdog_s")
        if self.reconnect_max_s < self.reconnect_initial_s:
            raise ConfigError(f"{path}.reconnect_max_s must be >= reconnect_initial_s")
        if self.fps_limit < 0:
            raise ConfigError(f"{path}.fps_limit must be >= 0")


@dataclass
class ModelConfig:
    """``model``: which bundle and runtime enhance the stream."""

    bundle: str | None = describe("model bundle folder (default: the installed model)", None)
    backend: Literal["auto", "openvino", "onnxruntime"] = describe("inference runtime", "auto")
    device: str | None = describe("runtime device (CPU, GPU, NPU, AUTO, ...); default the backend's", None)
    precision: Literal["int8", "fp32"] = describe("network precision", "int8")
    steps: int | None = describe("sampler steps (default: the bundle's)", None)
    seed: int | None = describe("the stream's noise seed (default: the bundle's)", None)
    temporal: bool = describe("motion-adaptive temporal filter on the stream (settings from the bundle): a static "
                              "scene stops shimmering, moving objects are not smeared", True)
    threads: int = describe("inference threads (0 = all cores)", 0)
    cache_dir: str | None = describe("OpenVINO compiled-model cache (default: $CACHE_DIRECTORY)", None)


@dataclass
class SegmentsConfig:
    """``outputs.segments``: enhanced video kept on the box."""

    enabled: bool = describe("write enhanced video segments to disk", False)
    directory: str = describe("folder for segments (default under $STATE_DIRECTORY)", "segments")
    segment_s: float = describe("length of one segment in seconds", 60.0)
    max_total_mb: float = describe("oldest segments are deleted beyond this total size", 1024.0)

    def validate(self, path: str) -> None:
        positive(self.segment_s, f"{path}.segment_s")
        positive(self.max_total_mb, f"{path}.max_total_mb")


@dataclass
class OutputsConfig:
    """``outputs``: what the agent produces besides the stream."""

    snapshot_interval_s: float = describe("publish a JPEG snapshot this often (0 = only on request)", 0.0)
    snapshot_quality: int = describe("JPEG quality of snapshots, 1-100", 85)
    metadata: bool = describe("publish per-frame metadata (capture time, latency, hashes)", True)
    segments: SegmentsConfig = describe("rolling store of enhanced video", default_factory=SegmentsConfig)

    def validate(self, path: str) -> None:
        if not 1 <= self.snapshot_quality <= 100:
            raise ConfigError(f"{path}.snapshot_quality must be 1-100, got {self.snapshot_quality}")
        if self.snapshot_interval_s < 0:
            raise ConfigError(f"{path}.snapshot_interval_s must be >= 0")


@dataclass
class TlsConfig:
    """``mqtt.tls``: broker certificates (and the client's, for mutual TLS)."""

    ca_file: str | None = describe("CA certificate that signed the broker's certificate", None)
    cert_file: str | None = describe("client certificate (mutual TLS)", None)
    key_file: str | None = describe("client private key (mutual TLS)", None)
    insecure: bool = describe("skip hostname verification (testing only)", False)

    def validate(self, path: str) -> None:
        if (self.cert_file is None) != (self.key_file is None):
            raise ConfigError(f"{path}: cert_file and key_file go together")
        for name in ("ca_file", "cert_file", "key_file"):
            value = getattr(self, name)
            if value is not None and not Path(value).is_file():
                raise ConfigError(f"{path}.{name}: file {value} does not exist")


@dataclass
class MqttConfig:
    """``mqtt``: the broker and how the box talks to it."""

    host: str = describe("broker host name or address")
    port: int = describe("broker port", 1883)
    prefix: str = describe("topic prefix", "cctv")
    device_id: str | None = describe("this box's id in topics (default: the host name)", None)
    username: str | None = describe("user name", None)
    password_env: str | None = describe("environment variable that holds the password", None)
    password_credential: str | None = describe("systemd credential name that holds the password", None)
    tls: TlsConfig | None = describe("TLS settings; omit for plain TCP", None)
    protocol: Literal["auto", "5", "3.1.1"] = describe("MQTT version; auto tries 5 then 3.1.1", "auto")
    keepalive_s: int = describe("keepalive interval", 30)
    health_interval_s: float = describe("publish health this often", 10.0)
    command_max_age_s: float = describe("commands older than this (or past their expiry) are refused", 60.0)
    clock_skew_s: float = describe("commands issued further than this in the future are refused", 300.0)
    command_keys: list[str] = describe("Ed25519 public keys (PEM) of the fleet's commands role; when set, every "
                                       "command not in open_commands must be signed by one", default_factory=list)
    groups: list[str] = describe("groups this box belongs to: a signed command may target one of them", default_factory=list)
    open_commands: list[str] = describe("commands that need no signature (read-only ones)",
                                        default_factory=lambda: ["health", "snapshot"])
    home_assistant: bool = describe("publish Home Assistant MQTT discovery", True)
    discovery_prefix: str = describe("Home Assistant discovery prefix", "homeassistant")

    def validate(self, path: str) -> None:
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"{path}.port must be 1-65535, got {self.port}")
        for name in ("prefix", "device_id"):
            value = getattr(self, name)
            if value is not None and (not value or any(c in value for c in "#+/ ")):
                raise ConfigError(f"{path}.{name} {value!r} must be non-empty without '#', '+', '/' or spaces")
        if self.password_env and self.password_credential:
            raise ConfigError(f"{path}: set password_env or password_credential, not both")
        positive(self.health_interval_s, f"{path}.health_interval_s")
        positive(self.clock_skew_s, f"{path}.clock_skew_s")
        for key in self.command_keys:
            if not Path(key).is_file():
                raise ConfigError(f"{path}.command_keys: file {key} does not exist")

    def password(self) -> str | None:
        """The password from the environment or a systemd credential, never from the YAML."""
        if self.password_env:
            value = os.environ.get(self.password_env)
            if value is None:
                raise ConfigError(f"mqtt.password_env: environment variable {self.password_env} is not set")
            return value
        if self.password_credential:
            folder = os.environ.get("CREDENTIALS_DIRECTORY")
            if not folder or not (Path(folder) / self.password_credential).is_file():
                raise ConfigError(f"mqtt.password_credential: credential {self.password_credential} is not loaded "
                                  "(LoadCredential= in the unit)")
            return (Path(folder) / self.password_credential).read_text().strip()
        return None


@dataclass
class UpdatesConfig:
    """``updates``: who may sign models for this box, and when to roll back."""

    trusted_keys: list[str] = describe("Ed25519 public keys (PEM files) whose signed bundles this box installs; "
                                       "empty disables updates", default_factory=list)
    rollback_frames: int = describe("roll back when a new model fails this many frames in a row", 5)
    keep_bundles: int = describe("installed bundles kept on disk (current and previous always)", 3)
    threshold: int = describe("how many distinct trusted keys must sign an update's metadata", 1)
    url_schemes: list[str] = describe("URL schemes an update may be fetched from (add http only on a trusted LAN)",
                                      default_factory=lambda: ["https"])
    download_deadline_s: float = describe("a download (URL or chunks) that takes longer is given up", 600.0)
    download_min_rate_bps: float = describe("a URL download slower than this (after 10 s) is given up", 10_000.0)
    max_unpacked_mb: float = describe("an archive that unpacks to more than this is refused (decompression bomb)", 512.0)
    max_files: int = describe("an archive with more files than this is refused", 64)
    trial_frames: int = describe("good frames in a row (and a passing health check) that mark a new model good", 50)
    auto_install: bool = describe("install a verified signed update as soon as it arrives; false: keep it staged and "
                                  "install it on an install command (Home Assistant's update entity, or "
                                  "<prefix>/<device>/update/set)", True)

    def validate(self, path: str) -> None:
        for key in self.trusted_keys:
            if not Path(key).is_file():
                raise ConfigError(f"{path}.trusted_keys: file {key} does not exist")
        if self.rollback_frames < 1:
            raise ConfigError(f"{path}.rollback_frames must be >= 1")
        if not 1 <= self.threshold <= max(1, len(self.trusted_keys)):
            raise ConfigError(f"{path}.threshold must be 1..{max(1, len(self.trusted_keys))} (the number of trusted keys)")
        for scheme in self.url_schemes:
            if scheme not in ("https", "http", "file"):
                raise ConfigError(f"{path}.url_schemes: {scheme!r} is not allowed; allowed: https, http, file")
        for name in ("download_deadline_s", "download_min_rate_bps", "max_unpacked_mb", "max_files", "trial_frames"):
            positive(getattr(self, name), f"{path}.{name}")


@dataclass
class AgentConfig:
    """The whole config file."""

    camera: CameraConfig = describe("the frame source")
    model: ModelConfig = describe("the enhancement model and runtime", default_factory=ModelConfig)
    outputs: OutputsConfig = describe("what the agent produces", default_factory=OutputsConfig)
    mqtt: MqttConfig | None = describe("MQTT broker; omit to run without one", None)
    updates: UpdatesConfig = describe("signed model updates over MQTT", default_factory=UpdatesConfig)
    enhance: bool = describe("enhancement on at start (a command can toggle it)", True)
    state_dir: str | None = describe("writable state (default: $STATE_DIRECTORY or ./state)", None)

    def resolved_state_dir(self) -> Path:
        """The state directory actually used (see paths.state_dir)."""
        return state_dir(self.state_dir)


def load_config(path: Path) -> AgentConfig:
    """Read and validate a YAML config; every problem is a ConfigError naming its key."""
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"config {path} cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"config {path} is not valid YAML{where}") from None
    return parse_config(raw or {})


def parse_config(raw: dict) -> AgentConfig:
    """Validate an already-parsed config tree (tests, reload)."""
    return build(AgentConfig, raw, "")


def describe_config(cls: type = AgentConfig, path: str = "") -> list[str]:
    """One line per key with its help text (for `edge-agent config describe`)."""
    return describe_tree(cls, path)
