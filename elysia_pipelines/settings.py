"""Typed settings read from environment variables, validated once.

Every process (Dagster code server, daemon, CLI, tests) reads the same variables, so
one function builds them and one error names the variable that is wrong and what it
accepts. Secrets are never stored here: only the *names* of the variables holding
them, read at the moment of use.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from elysia_pipelines.disk import MOUNTINFO, network_mount
from elysia_pipelines.errors import ConfigError

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "ki": 1024,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mi": 1024**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gi": 1024**3,
    "gib": 1024**3,
    "t": 1000**4,
    "tb": 1000**4,
}

WEAVIATE_MODES = ("embedded", "url", "cloud")
RUN_MODES = ("auto", "queue", "in-process")


MAX_SIZE_BYTES = 2**62


def parse_size(text: str, *, what: str = "size") -> int:
    """Parse '1MB', '512k', '2MiB' or a plain byte count into bytes."""
    match = _SIZE_RE.match(str(text))
    if not match:
        raise ConfigError(
            f"{what}: {text!r} is not a size",
            "use a number of bytes or a number with a unit, e.g. 500KB, 1MB, 2MiB",
        )
    number, unit = match.groups()
    factor = _SIZE_UNITS.get((unit or "").lower())
    if factor is None:
        raise ConfigError(f"{what}: unknown unit in {text!r}", "use B, KB, MB, GB, KiB or MiB")
    value = float(number) * factor
    # SQLite stores signed 64-bit integers; anything near that is no real limit either.
    if not value < MAX_SIZE_BYTES:
        raise ConfigError(
            f"{what}: {text!r} is too large",
            "a file-size limit is a few MB; use e.g. 1MB, 100MB or 1GB",
        )
    # A limit of no bytes at all would skip every file (and FileFilter refuses it at sync
    # time, long after `repo update` said yes).
    if int(value) < 1:
        raise ConfigError(
            f"{what}: {text!r} is not a positive size", "use at least 1 byte, e.g. 500KB or 1MB"
        )
    return int(value)


def format_size(num_bytes: float) -> str:
    """Human-readable size with binary units, for tables and metadata."""
    value = float(num_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with the defaults a single machine needs."""

    home: Path = field(default_factory=lambda: Path(".elysia").resolve())
    # Weaviate connection. Mode "url" when WEAVIATE_URL is set, else embedded.
    weaviate_mode: str = "embedded"
    weaviate_url: str | None = None
    weaviate_grpc_url: str | None = None
    weaviate_api_key_env: str = "WEAVIATE_API_KEY"
    weaviate_embedded_version: str = "1.32.0"
    weaviate_timeout_s: float = 60.0
    weaviate_retries: int = 5
    # Ingestion batches: capped by count and bytes (gRPC message limits).
    batch_max_objects: int = 200
    batch_max_bytes: int = 8 * 1000**2
    # Extraction defaults for new repositories.
    default_max_file_size: int = 1000**2
    default_schedule: str = "30m"
    # Housekeeping.
    processed_retention_days: int = 7
    backup_retention_days: int = 30
    backup_keep_last: int = 3
    # Where backups go when no --output is given: a plain path, file://, s3://, gs://,
    # az:// or abfs:// URI (None: `home/backups`). Credentials never live here: the
    # providers' own chains supply them, or the variables *named* below.
    backup_uri: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key_env: str | None = None
    s3_secret_key_env: str | None = None
    # Operations.
    alert_webhook_url: str | None = None
    git_timeout_s: float = 600.0
    # Dagster instance the CLI talks to; DAGSTER_HOME wins, else a folder under `home`.
    dagster_home_override: Path | None = None
    # Where `elysiactl` runs its syncs: auto (the run queue when a daemon serves it,
    # else in this process), queue (refuse without a daemon) or in-process.
    run_mode: str = "auto"
    # ELYSIA_HOME on a network filesystem is refused (SQLite registry and catalog are per
    # host) unless this says exactly one host uses it.
    allow_network_fs: bool = False

    @property
    def weaviate_attempts(self) -> int:
        """Tries per Weaviate call: the first one plus WEAVIATE_RETRIES retries.

        Every layer counts attempts this way, so WEAVIATE_RETRIES=0 means one try
        everywhere (export once counted `retries` and ingestion `retries + 1`).
        """
        return self.weaviate_retries + 1

    # --- derived paths (all state lives under `home`) ---
    @property
    def registry_path(self) -> Path:
        return self.home / "registry.sqlite"

    @property
    def mirrors_dir(self) -> Path:
        return self.home / "mirrors"

    def mirror_path(self, repo_name: str) -> Path:
        """Bare mirror of one repository; every stage and the CLI agree on this one place."""
        return self.mirrors_dir / f"{repo_name}.git"

    @property
    def pending_dir(self) -> Path:
        return self.home / "pending"

    @property
    def processed_dir(self) -> Path:
        return self.home / "processed"

    @property
    def failed_dir(self) -> Path:
        return self.home / "failed"

    @property
    def dead_letter_dir(self) -> Path:
        return self.home / "dead_letter"

    @property
    def checkpoints_dir(self) -> Path:
        return self.home / "checkpoints"

    @property
    def backups_dir(self) -> Path:
        return self.home / "backups"

    @property
    def catalog_path(self) -> Path:
        return self.home / "catalog.sqlite"

    @property
    def dagster_home(self) -> Path:
        return self.dagster_home_override or self.home / "dagster_home"

    @property
    def embedded_weaviate_dir(self) -> Path:
        return self.home / "weaviate"

    def ensure_dirs(self, mountinfo: Path = MOUNTINFO) -> Settings:
        """Create the state directories, or say in one ConfigError why ELYSIA_HOME is unusable.

        Every command and run that opens the registry or the catalog comes through here,
        and all of them write (WAL, migrations, dead-run marks), so this is where a home
        on a network filesystem is refused: see `check_local_home`.
        """
        try:
            for path in (
                self.home,
                self.mirrors_dir,
                self.pending_dir,
                self.processed_dir,
                self.failed_dir,
                self.dead_letter_dir,
                self.checkpoints_dir,
                self.backups_dir,
            ):
                path.mkdir(parents=True, exist_ok=True)
            # Permission bits alone do not tell (read-only mounts, ACLs): try a write.
            probe = self.home / f".write-probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            what = "is not a directory" if self.home.is_file() else "is not usable"
            raise ConfigError(
                f"ELYSIA_HOME {self.home} {what}: {exc.strerror or exc}",
                "point ELYSIA_HOME to a writable directory (it is created if missing)",
            ) from None
        self.check_local_home(mountinfo)
        return self

    def check_local_home(self, mountinfo: Path = MOUNTINFO) -> None:
        """Refuse an ELYSIA_HOME on NFS/SMB/sshfs/...: its SQLite files are one host's.

        SQLite's POSIX locks are unreliable over network filesystems and its WAL index is
        shared memory of one machine, so run workers of two hosts writing one
        `registry.sqlite` corrupt it silently. A home that only one host ever uses is safe;
        ELYSIA_ALLOW_NETWORK_FS=1 says so.
        """
        if self.allow_network_fs:
            return
        mount = network_mount(self.home, mountinfo)
        if mount is None:
            return
        raise ConfigError(
            f"ELYSIA_HOME {self.home} is on a network filesystem ({mount.fs_type} "
            f"{mount.source} at {mount.mount_point}); its SQLite registry and catalog "
            "must not be shared between hosts",
            "give every host a local ELYSIA_HOME (share Dagster's Postgres storage, "
            "Weaviate and the backup storage instead), or set ELYSIA_ALLOW_NETWORK_FS=1 "
            "if only this one host ever uses this directory",
        )

    def with_home(self, home: Path | str) -> Settings:
        return replace(self, home=Path(home).resolve())

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from the environment; raise one ConfigError naming the bad variable."""
        env = os.environ if env is None else env
        defaults = cls()

        def get(name: str) -> str | None:
            value = env.get(name)
            return value.strip() if value is not None and value.strip() != "" else None

        def integer(name: str, default: int, minimum: int = 0) -> int:
            raw = get(name)
            if raw is None:
                return default
            try:
                value = int(raw)
            except ValueError:
                raise ConfigError(
                    f"{name}={raw!r} is not a whole number",
                    f"set {name} to an integer >= {minimum}",
                ) from None
            if value < minimum:
                raise ConfigError(f"{name}={value} is too small", f"set {name} to >= {minimum}")
            return value

        def number(name: str, default: float) -> float:
            raw = get(name)
            if raw is None:
                return default
            try:
                value = float(raw)
            except ValueError:
                raise ConfigError(
                    f"{name}={raw!r} is not a number", f"set {name} to a positive number of seconds"
                ) from None
            if value <= 0:
                raise ConfigError(f"{name}={value} must be positive", f"set {name} to e.g. 30")
            return value

        def size(name: str, default: int) -> int:
            raw = get(name)
            return default if raw is None else parse_size(raw, what=name)

        def url(name: str) -> str | None:
            raw = get(name)
            if raw is None:
                return None
            if not re.match(r"^https?://[^\s/]+", raw):
                raise ConfigError(
                    f"{name}={raw!r} is not an http(s) URL",
                    f"set {name} like http://localhost:8080 (or unset it)",
                )
            return raw.rstrip("/")

        def env_name(name: str) -> str | None:
            raw = get(name)
            if raw is None:
                return None
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", raw):
                raise ConfigError(
                    f"{name}={raw!r} is not an environment variable name",
                    "give the NAME of the variable that holds the secret, not the secret",
                )
            return raw

        weaviate_url = url("WEAVIATE_URL")
        grpc_raw = get("WEAVIATE_GRPC_URL")
        if grpc_raw is not None and not re.match(
            r"^(https?://|grpcs?://)?[^\s/:]+(:\d+)?/?$", grpc_raw
        ):
            raise ConfigError(
                f"WEAVIATE_GRPC_URL={grpc_raw!r} is not a host:port",
                "set it like localhost:50051 or grpc://localhost:50051",
            )
        mode = (get("WEAVIATE_MODE") or ("url" if weaviate_url else "embedded")).lower()
        if mode not in WEAVIATE_MODES:
            raise ConfigError(
                f"WEAVIATE_MODE={mode!r} is not a known mode",
                f"use one of: {', '.join(WEAVIATE_MODES)}",
            )
        if mode in ("url", "cloud") and not weaviate_url:
            raise ConfigError(
                f"WEAVIATE_MODE={mode} needs WEAVIATE_URL",
                "set WEAVIATE_URL (e.g. http://localhost:8080 or https://xyz.weaviate.cloud)",
            )
        key_env = get("WEAVIATE_API_KEY_ENV") or defaults.weaviate_api_key_env
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key_env):
            raise ConfigError(
                f"WEAVIATE_API_KEY_ENV={key_env!r} is not an environment variable name",
                "give the NAME of the variable that holds the key, e.g. WEAVIATE_API_KEY",
            )
        home = Path(get("ELYSIA_HOME") or ".elysia").expanduser().resolve()
        run_mode = (get("ELYSIA_RUN_MODE") or defaults.run_mode).lower()
        if run_mode not in RUN_MODES:
            raise ConfigError(
                f"ELYSIA_RUN_MODE={run_mode!r} is not a known mode",
                f"use one of: {', '.join(RUN_MODES)}",
            )
        allow_raw = (get("ELYSIA_ALLOW_NETWORK_FS") or "0").lower()
        if allow_raw not in ("0", "1", "true", "false", "yes", "no"):
            raise ConfigError(
                f"ELYSIA_ALLOW_NETWORK_FS={allow_raw!r} is not a yes/no value",
                "set ELYSIA_ALLOW_NETWORK_FS=1 (one host uses this ELYSIA_HOME) or unset it",
            )
        return cls(
            home=home,
            allow_network_fs=allow_raw in ("1", "true", "yes"),
            weaviate_mode=mode,
            weaviate_url=weaviate_url,
            weaviate_grpc_url=grpc_raw,
            weaviate_api_key_env=key_env,
            weaviate_embedded_version=get("WEAVIATE_EMBEDDED_VERSION")
            or defaults.weaviate_embedded_version,
            weaviate_timeout_s=number("WEAVIATE_TIMEOUT_S", defaults.weaviate_timeout_s),
            weaviate_retries=integer("WEAVIATE_RETRIES", defaults.weaviate_retries),
            batch_max_objects=integer("ELYSIA_BATCH_MAX_OBJECTS", defaults.batch_max_objects, 1),
            batch_max_bytes=size("ELYSIA_BATCH_MAX_BYTES", defaults.batch_max_bytes),
            default_max_file_size=size("ELYSIA_MAX_FILE_SIZE", defaults.default_max_file_size),
            default_schedule=get("ELYSIA_DEFAULT_SCHEDULE") or defaults.default_schedule,
            processed_retention_days=integer(
                "ELYSIA_PROCESSED_RETENTION_DAYS", defaults.processed_retention_days
            ),
            backup_retention_days=integer(
                "ELYSIA_BACKUP_RETENTION_DAYS", defaults.backup_retention_days
            ),
            backup_keep_last=integer("ELYSIA_BACKUP_KEEP_LAST", defaults.backup_keep_last),
            backup_uri=get("ELYSIA_BACKUP_URI") or None,
            s3_endpoint_url=url("ELYSIA_S3_ENDPOINT_URL"),
            s3_region=get("ELYSIA_S3_REGION") or None,
            s3_access_key_env=env_name("ELYSIA_S3_ACCESS_KEY_ENV"),
            s3_secret_key_env=env_name("ELYSIA_S3_SECRET_KEY_ENV"),
            alert_webhook_url=url("ELYSIA_ALERT_WEBHOOK_URL"),
            git_timeout_s=number("ELYSIA_GIT_TIMEOUT_S", defaults.git_timeout_s),
            run_mode=run_mode,
            dagster_home_override=(
                Path(dagster_home).expanduser().resolve()
                if (dagster_home := get("DAGSTER_HOME"))
                else None
            ),
        )
