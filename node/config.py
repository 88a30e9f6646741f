"""``<home>/tequio.toml``: validated by pydantic; every key has a default and a description.

The descriptions here are the single source for the comments written into a new ``tequio.toml`` and
for the table in docs/operations.md (a test keeps the two in step).
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from .errors import ConfigError

__all__ = ["CONFIG_FILE", "Config", "config_table", "load_config", "render_config", "write_config"]

CONFIG_FILE = "tequio.toml"
M = TypeVar("M", bound=BaseModel)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class NodeSection(_Section):
    name: str = Field(min_length=1, max_length=200, description="Display name of this node's organisation.")


class IdentitySection(_Section):
    passphrase_env: str = Field(
        default="",
        description="Name of the environment variable that holds the node key's passphrase; "
        "empty to be prompted on a terminal (only used when the key is encrypted).",
    )


class ApiSection(_Section):
    port: int = Field(
        default=7347, ge=0, le=65535, description="Port of the local API on 127.0.0.1; 0 picks a free one."
    )
    max_body: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="Largest request body the local API accepts, in bytes (record imports included).",
    )


class StoreSection(_Section):
    busy_timeout_ms: int = Field(
        default=10_000, ge=0, description="How long a write waits for another process holding the store."
    )
    rejections_kept: int = Field(
        default=1000, ge=0, description="How many recent rejections (with reasons) the store keeps."
    )


class IngestSection(_Section):
    batch_size: int = Field(
        default=5000, ge=1, le=100_000, description="Records verified and written per transaction on import."
    )
    batch_bytes: int = Field(
        default=8 << 20,
        ge=1 << 16,
        le=1 << 30,
        description="A batch is also cut when its records reach this many bytes, bounding memory.",
    )
    verify_workers: int = Field(
        default=0,
        ge=0,
        le=64,
        description="Processes that check signatures of large batches while records are written; "
        "0: one per CPU core, up to 4; 1: check in the node's own process.",
    )

    def workers(self) -> int:
        return self.verify_workers or min(os.cpu_count() or 1, 4)


class FederationSection(_Section):
    host: str = Field(
        default="0.0.0.0",
        description="Where the federation listener binds: 0.0.0.0 for every interface (a mesh), "
        "127.0.0.1 for this machine only.",
    )
    port: int = Field(
        default=7348, ge=0, le=65535, description="Federation listener port; 0 picks a free one."
    )
    advertise: list[str] = Field(
        default_factory=list,
        description='Addresses ("host:port") given to peers in invites; '
        "empty: where serve listens, on every interface.",
    )
    discovery: bool = Field(default=True, description="Advertise on, and browse, the LAN with zeroconf.")
    interval_ms: int = Field(default=5000, ge=100, description="Mean time between anti-entropy rounds.")
    jitter_percent: int = Field(
        default=30, ge=0, le=90, description="Random spread of each interval, in percent."
    )
    fanout: int = Field(default=3, ge=1, le=64, description="Peers synced with in each anti-entropy round.")
    backoff_max_ms: int = Field(
        default=300_000,
        ge=1000,
        description="Longest wait before retrying an unreachable peer (back-off doubles).",
    )
    max_body: int = Field(
        default=16 * 1024 * 1024, ge=65_536, description="Largest federation request or reply body, in bytes."
    )
    max_records: int = Field(default=2000, ge=1, description="Most records in one federation message.")
    quarantine_minutes: int = Field(
        default=30, ge=1, description="How long a peer that keeps sending invalid records is refused."
    )
    peer_kbit: int = Field(
        default=0,
        ge=0,
        le=10_000_000,
        description="Bandwidth budget per peer, in kbit/s (what is sent to, fetched from and answered to "
        "one peer), so that one peer does not starve the others on a thin link; 0: no budget.",
    )
    # The listener's defences against strangers (docs/security.md, "an outsider on the network").
    max_connections: int = Field(
        default=256,
        ge=4,
        description="Most open federation connections in all; never more than the open-file limit "
        "minus fd_reserve. At the cap, the oldest connection that has not authenticated is closed.",
    )
    max_connections_per_host: int = Field(
        default=16, ge=1, description="Most open federation connections from one address."
    )
    fd_reserve: int = Field(
        default=160,
        ge=16,
        description="File descriptors kept free of federation connections for the store, the local "
        "API and connections to peers.",
    )
    header_timeout_s: int = Field(
        default=10,
        ge=1,
        le=600,
        description="Seconds a connection has to send a request head, after opening or after its "
        "previous response (idle connections close after as long).",
    )
    body_timeout_s: int = Field(
        default=30, ge=1, le=3600, description="Longest pause, in seconds, while a request body arrives."
    )
    max_unauthenticated_body: int = Field(
        default=4096,
        ge=512,
        le=65_536,
        description="Largest body of a request from a key that is not a trusted peer (a handshake).",
    )
    inflight_body_mb: int = Field(
        default=64,
        ge=16,
        description="MiB of request bodies the listener holds at once, all requests together.",
    )
    handshakes_per_minute: int = Field(
        default=60,
        ge=1,
        description="Most handshakes (from keys not yet trusted) per minute from one address.",
    )

    @field_validator("advertise")
    @classmethod
    def _addrs(cls, value: list[str]) -> list[str]:
        from tequio.federation.addrs import is_valid_addr

        for a in value:
            if not is_valid_addr(a):
                raise ValueError(f"{a!r} is not host:port (an IPv4 address, [IPv6] or a host name)")
        return value


class BlobsSection(_Section):
    quota_mb: int = Field(
        default=10_240, ge=0, description="Most disk space, in MiB, that blobs fetched from peers may take."
    )


class WebSection(_Section):
    host: str = Field(
        default="127.0.0.1",
        description="Where the web pages listen: 127.0.0.1 for this machine only; another address "
        "(the LAN, a mesh) turns TLS on with the certificate made at init.",
    )
    port: int = Field(default=7349, ge=0, le=65535, description="Web pages port; 0 picks a free one.")
    insecure_http: bool = Field(
        default=False,
        description="Serve plain HTTP off loopback. Anyone on the network can then read passwords, "
        "cookies and pages in transit: only for a link you otherwise encrypt (a VPN, a WireGuard mesh).",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="More names the browser may use for this node (Host header), e.g. a mesh DNS name; "
        "localhost, 127.0.0.1 and web.host are always accepted.",
    )
    idle_minutes: int = Field(
        default=30, ge=1, le=7 * 24 * 60, description="A session ends after this many minutes without use."
    )
    login_attempts: int = Field(
        default=5, ge=1, le=1000, description="Failed logins allowed from one address within the window."
    )
    login_window_minutes: int = Field(
        default=15,
        ge=1,
        le=24 * 60,
        description="The login rate-limit window; addresses are forgotten after it.",
    )
    max_upload_mb: int = Field(
        default=2048, ge=1, description="Largest file a member may upload through the pages, in MiB."
    )


class LogSection(_Section):
    level: Literal["debug", "info", "warning", "error"] = Field(
        default="warning", description="Least severe log level written to standard error."
    )


class Config(_Section):
    """The whole file; sections may be omitted and take their defaults."""

    node: NodeSection
    identity: IdentitySection = Field(default_factory=IdentitySection)
    api: ApiSection = Field(default_factory=ApiSection)
    store: StoreSection = Field(default_factory=StoreSection)
    ingest: IngestSection = Field(default_factory=IngestSection)
    federation: FederationSection = Field(default_factory=FederationSection)
    blobs: BlobsSection = Field(default_factory=BlobsSection)
    web: WebSection = Field(default_factory=WebSection)
    log: LogSection = Field(default_factory=LogSection)
    # Plugins' sections (the register_config hook), validated by their own models.
    _plugin_sections: dict[str, BaseModel] = PrivateAttr(default_factory=dict)

    def plugin_section(self, name: str, model: type[M]) -> M:
        """A plugin's section as its model: what tequio.toml says, or the model's defaults."""
        found = self._plugin_sections.get(name)
        return found if isinstance(found, model) else model()


def load_config(home: Path, plugin_sections: Mapping[str, type[BaseModel]] | None = None) -> Config:
    """Read and validate ``<home>/tequio.toml``; a problem is one ConfigError naming the key.

    ``plugin_sections`` are the sections plugins declared; any other unknown section is an error."""
    path = home / CONFIG_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path} is missing") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path} is not valid TOML: {e}") from None
    sections = dict(plugin_sections or {})
    theirs = {name: data.pop(name) for name in sections if name in data}
    config = _validated(path, Config, data, ())
    for name, raw in theirs.items():
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: {name}: must be a table ([{name}])")
        config._plugin_sections[name] = _validated(path, sections[name], raw, (name,))
    return config


def _validated(path: Path, model: type[M], data: dict[str, Any], prefix: tuple[str, ...]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in (*prefix, *first["loc"])) or "(top level)"
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise ConfigError(f"{path}: {where}: {first['msg']}{more}") from None


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON string escapes are valid TOML basic strings
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def render_config(config: Config) -> str:
    """The TOML text of ``config``, every key preceded by its description as a comment."""
    lines = ["# Tequio node configuration. Every key is documented in docs/operations.md.", ""]
    for section_name in Config.model_fields:
        section = getattr(config, section_name)
        lines.append(f"[{section_name}]")
        for key, field in type(section).model_fields.items():
            lines.append(f"# {field.description}")
            lines.append(f"{key} = {_toml_value(getattr(section, key))}")
        lines.append("")
    return "\n".join(lines)


def config_table() -> str:
    """The Markdown table of every key, its default and description (docs/operations.md holds it verbatim)."""
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for section_name, section_field in Config.model_fields.items():
        model = section_field.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        for key, field in model.model_fields.items():
            default = (
                "(required)"
                if field.is_required()
                else _toml_value(field.get_default(call_default_factory=True))
            )
            rows.append(f"| `{section_name}.{key}` | `{default}` | {field.description} |")
    return "\n".join(rows) + "\n"


def write_config(home: Path, config: Config) -> None:
    (home / CONFIG_FILE).write_text(render_config(config), encoding="utf-8")
