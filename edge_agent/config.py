"""The agent's configuration: one validated tree, loaded once.

Every section is a pydantic model (``extra="forbid"``: a typo is refused,
never silently defaulted) whose fields carry their help text and their
constraints (ranges, choices, patterns); rules that span fields are model
validators (a section's run once its own keys are valid). Every problem of a
file is reported at once, one line each with its key path (schema.py words
them). Referenced files (TLS, keys) are
checked unless the validation context says ``{"files": False}``
(``edge-agent config validate --no-files``). Secrets (MQTT password, TLS
key passphrase) are never read from the YAML: a ``*_env`` field names an
environment variable and a ``*_credential`` field names a systemd credential
(``LoadCredential=`` puts it under ``$CREDENTIALS_DIRECTORY``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict, ValidationError,
                      ValidationInfo, model_validator)

from .errors import ConfigError
from .paths import state_dir
from .schema import describe_keys, problems

__all__ = ["AgentConfig", "CameraConfig", "ConfigError", "ModelConfig", "MqttConfig", "OutputsConfig",
           "SegmentsConfig", "TlsConfig", "UpdatesConfig", "describe_config", "load_config", "parse_config"]

Bool = Annotated[bool, Strict()]    # `yes`, 1 or "true" are refused, not guessed
Int = Annotated[int, Strict()]      # "1883" and 3.5 are refused
Float = Annotated[float, Strict()]  # a whole number is taken, a string is not
NODE_ID = r"^[a-zA-Z0-9_-]+$"       # Home Assistant's MQTT discovery node_id
NODE_ID_TEXT = "letters, digits, '_' and '-' (a node_id of Home Assistant's MQTT discovery)"


def _file_exists(value: str, info: ValidationInfo) -> str:
    """A referenced file must exist, unless the context turns file checks off (``--no-files``)."""
    if (info.context or {}).get("files", True) and not Path(value).is_file():
        raise ValueError(f"file {value} does not exist")
    return value


def _as_text(value: Any) -> Any:
    """YAML reads ``protocol: 5`` as a number; the choice is the text ``"5"``."""
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


File = Annotated[str, AfterValidator(_file_exists)]


class Section(BaseModel):
    """A config section: unknown keys are refused, numbers are not coerced from text."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


class CameraConfig(Section):
    """``camera``: the frame source and how hard to hold on to it."""

    source: str = Field(description="rtsp://, http(s):// URL, a V4L2 index (0) or /dev/videoN, a video file or an "
                                    "image folder")
    loop: Bool = Field(False, description="restart a video file or folder at its end")
    fps_limit: Float = Field(0.0, ge=0, description="process at most this many frames per second "
                                                    "(0 = as fast as possible)")
    reconnect_initial_s: Float = Field(1.0, gt=0, description="first wait before reconnecting a lost camera")
    reconnect_max_s: Float = Field(30.0, gt=0, description="longest wait between reconnect attempts (exponential "
                                                           "backoff); at least reconnect_initial_s")
    watchdog_s: Float = Field(10.0, gt=0, description="a camera silent for this long is reconnected (a read can hang)")

    @model_validator(mode="after")
    def _backoff(self) -> CameraConfig:
        if self.reconnect_max_s < self.reconnect_initial_s:
            raise ValueError(f"reconnect_max_s: must be >= reconnect_initial_s ({self.reconnect_initial_s}), "
                             f"got {self.reconnect_max_s}")
        return self


class ModelConfig(Section):
    """``model``: which bundle and runtime enhance the stream."""

    bundle: str | None = Field(None, description="model bundle folder (default: the installed model)")
    backend: Literal["auto", "openvino", "onnxruntime"] = Field("auto", description="inference runtime")
    device: str | None = Field(None, description="runtime device (CPU, GPU, NPU, AUTO, ...); default the backend's")
    precision: Literal["int8", "fp32"] = Field("int8", description="network precision")
    steps: Int | None = Field(None, ge=1, description="sampler steps (default: the bundle's)")
    seed: Int | None = Field(None, description="the stream's noise seed (default: the bundle's)")
    average: Int | None = Field(None, ge=1, le=8, description="samples averaged per output frame, each a full sampler "
                                                              "run (default: the bundle's); fewer is faster and noisier")
    temporal: Bool = Field(True, description="motion-adaptive temporal filter on the stream (settings from the "
                                             "bundle): a static scene stops shimmering, moving objects are not smeared")
    threads: Int = Field(0, ge=0, description="inference threads (0 = all cores)")
    cache_dir: str | None = Field(None, description="OpenVINO compiled-model cache (default: $CACHE_DIRECTORY)")


class SegmentsConfig(Section):
    """``outputs.segments``: enhanced video kept on the box."""

    enabled: Bool = Field(False, description="write enhanced video segments to disk")
    directory: str = Field("segments", description="folder for segments (default under $STATE_DIRECTORY)")
    segment_s: Float = Field(60.0, gt=0, description="length of one segment in seconds")
    max_total_mb: Float = Field(1024.0, gt=0, description="oldest segments are deleted beyond this total size")


class OutputsConfig(Section):
    """``outputs``: what the agent produces besides the stream."""

    snapshot_interval_s: Float = Field(0.0, ge=0, description="publish a JPEG snapshot this often "
                                                              "(0 = only on request)")
    snapshot_quality: Int = Field(85, ge=1, le=100, description="JPEG quality of snapshots")
    metadata: Bool = Field(True, description="publish per-frame metadata (capture time, latency, hashes)")
    segments: SegmentsConfig = Field(default_factory=SegmentsConfig, description="rolling store of enhanced video")


class TlsConfig(Section):
    """``mqtt.tls``: broker certificates (and the client's, for mutual TLS)."""

    ca_file: File | None = Field(None, description="CA certificate that signed the broker's certificate")
    cert_file: File | None = Field(None, description="client certificate (mutual TLS); goes with key_file")
    key_file: File | None = Field(None, description="client private key (mutual TLS); goes with cert_file")
    insecure: Bool = Field(False, description="skip hostname verification (testing only)")

    @model_validator(mode="after")
    def _pair(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together: set both (mutual TLS) or neither")
        return self


class MqttConfig(Section):
    """``mqtt``: the broker and how the box talks to it."""

    host: str = Field(description="broker host name or address")
    port: Int = Field(1883, ge=1, le=65535, description="broker port")
    prefix: str = Field("cctv", pattern=NODE_ID, description="topic prefix",
                        json_schema_extra={"allowed": NODE_ID_TEXT})
    device_id: str | None = Field(None, pattern=NODE_ID, description="this box's id in topics (default: the host name)",
                                  json_schema_extra={"allowed": NODE_ID_TEXT})
    username: str | None = Field(None, description="user name")
    password_env: str | None = Field(None, description="environment variable that holds the password")
    password_credential: str | None = Field(None, description="systemd credential name that holds the password")
    tls: TlsConfig | None = Field(None, description="TLS settings; omit for plain TCP")
    protocol: Annotated[Literal["auto", "5", "3.1.1"], BeforeValidator(_as_text)] = Field(
        "auto", description="MQTT version; auto tries 5 then 3.1.1")
    keepalive_s: Int = Field(30, ge=1, le=65535, description="keepalive interval")
    health_interval_s: Float = Field(10.0, gt=0, description="publish health this often")
    command_max_age_s: Float = Field(60.0, gt=0, description="commands older than this (or past their expiry) "
                                                             "are refused")
    clock_skew_s: Float = Field(300.0, gt=0, description="commands issued further than this in the future are refused")
    command_keys: list[File] = Field(default_factory=list, description="Ed25519 public keys (PEM) of the fleet's "
                                     "commands role; when set, every command not in open_commands must be signed "
                                     "by one")
    groups: list[str] = Field(default_factory=list, description="groups this box belongs to: a signed command may "
                                                                "target one of them")
    open_commands: list[str] = Field(default_factory=lambda: ["health", "snapshot"],
                                     description="commands that need no signature (read-only ones)")
    home_assistant: Bool = Field(True, description="publish Home Assistant MQTT discovery")
    discovery_prefix: str = Field("homeassistant", description="Home Assistant discovery prefix")

    @model_validator(mode="after")
    def _one_password_source(self) -> MqttConfig:
        if self.password_env and self.password_credential:
            raise ValueError("password_credential: set password_env or password_credential, not both")
        return self

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


class UpdatesConfig(Section):
    """``updates``: who may sign models for this box, and when to roll back."""

    trusted_keys: list[File] = Field(default_factory=list, description="Ed25519 public keys (PEM files) whose signed "
                                     "bundles this box installs; empty disables updates")
    rollback_frames: Int = Field(5, ge=1, description="roll back when a new model fails this many frames in a row")
    keep_bundles: Int = Field(3, ge=1, description="installed bundles kept on disk (current and previous always)")
    threshold: Int = Field(1, ge=1, description="how many distinct trusted keys must sign an update's metadata "
                                                "(at most the number of trusted keys)")
    url_schemes: list[Literal["https", "http", "file"]] = Field(
        default_factory=lambda: ["https"], description="URL schemes an update may be fetched from (add http only on "
                                                       "a trusted LAN)")
    download_deadline_s: Float = Field(600.0, gt=0, description="a download (URL or chunks) that takes longer "
                                                                "is given up")
    download_min_rate_bps: Float = Field(10_000.0, gt=0, description="a URL download slower than this (after 10 s) "
                                                                     "is given up")
    max_unpacked_mb: Float = Field(512.0, gt=0, description="an archive that unpacks to more than this is refused "
                                                            "(decompression bomb)")
    max_files: Int = Field(64, gt=0, description="an archive with more files than this is refused")
    trial_frames: Int = Field(50, gt=0, description="good frames in a row (and a passing health check) that mark a "
                                                    "new model good")
    auto_install: Bool = Field(True, description="install a verified signed update as soon as it arrives; false: keep "
                               "it staged and install it on an install command (Home Assistant's update entity, or "
                               "<prefix>/<device>/update/set)")

    @model_validator(mode="after")
    def _threshold(self) -> UpdatesConfig:
        most = max(1, len(self.trusted_keys))
        if self.threshold > most:
            raise ValueError(f"threshold: must be at most {most} (the number of trusted keys, or 1), "
                             f"got {self.threshold}")
        return self


class AgentConfig(Section):
    """The whole config file."""

    camera: CameraConfig = Field(description="the frame source")
    model: ModelConfig = Field(default_factory=ModelConfig, description="the enhancement model and runtime")
    outputs: OutputsConfig = Field(default_factory=OutputsConfig, description="what the agent produces")
    mqtt: MqttConfig | None = Field(None, description="MQTT broker; omit to run without one")
    updates: UpdatesConfig = Field(default_factory=UpdatesConfig, description="signed model updates over MQTT")
    enhance: Bool = Field(True, description="enhancement on at start (a command can toggle it)")
    state_dir: str | None = Field(None, description="writable state (default: $STATE_DIRECTORY or ./state)")

    def resolved_state_dir(self) -> Path:
        """The state directory actually used (see paths.state_dir)."""
        return state_dir(self.state_dir)


def load_config(path: Path, *, files: bool = True) -> AgentConfig:
    """Read and validate a YAML config; every problem at once, in one ConfigError (see parse_config)."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"config {path} cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"config {path} is not valid YAML{where}") from None
    return parse_config({} if raw is None else raw, files=files)


def parse_config(raw: Any, *, files: bool = True) -> AgentConfig:
    """Validate an already-parsed config tree (tests, reload). Every problem is reported at once: one
    ConfigError whose message has one line per problem, each naming its key path and what is allowed.
    ``files=False`` skips the existence checks of referenced files (TLS, keys)."""
    try:
        return AgentConfig.model_validate(raw, context={"files": files})
    except ValidationError as exc:
        found = problems(exc, AgentConfig)
    if len(found) == 1:
        raise ConfigError(found[0])
    raise ConfigError(f"{len(found)} problems in the config:\n" + "\n".join(f"  {p}" for p in found))


def describe_config() -> list[str]:
    """One line per key with its help text (for `edge-agent config describe`)."""
    return [f"{key}: {entry['help']}" for key, entry in describe_keys(AgentConfig).items()]
