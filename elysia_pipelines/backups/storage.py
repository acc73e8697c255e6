"""Where backups live: local directories or object storage, addressed by URI.

A destination is a plain path, `file://` URI, or an object-store URI (`s3://bucket/prefix`,
`gs://bucket/prefix`, `az://container/prefix` or `abfs://container@account.dfs.core.windows.net/prefix`).
Object stores are reached through pyarrow's filesystems (AWS SDK, Google Cloud and Azure
SDKs inside Arrow's C++), never through hand-written HTTP, so the providers' usual
credential chains apply. The only secrets we ever touch are read from the environment
variables *named* in settings at the moment a filesystem is built; they are never
stored, logged or put into a URI.

Object stores have no atomic directory rename, so a remote backup is published the other
way round: the data files are streamed to `<prefix>/<collection>/<backup_id>/data/...`
first and `manifest.json` is written last. A backup without its manifest is by
definition incomplete; readers, `verify` and the catalog never take it for a backup,
and retention removes such leftovers once they are stale.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from elysia_pipelines.backups.layout import MANIFEST_NAME
from elysia_pipelines.errors import ConfigError, ElysiaError, NotFoundError
from elysia_pipelines.redaction import redact_url
from elysia_pipelines.settings import Settings

if TYPE_CHECKING:
    import pyarrow.fs as pafs

REMOTE_SCHEMES = ("s3", "gs", "gcs", "az", "abfs", "abfss")
CHUNK_BYTES = 4 * 1024 * 1024


class StorageError(ElysiaError):
    """Object storage refused or failed a request."""


class StorageAccessDenied(StorageError):
    """The store refused our credentials: user-fixable, retrying cannot help."""


class StorageUnavailable(StorageError):
    """The store failed or could not be reached (network, timeouts, 5xx): transient."""

    transient = True


def is_remote(location: str | Path | None) -> bool:
    if location is None or isinstance(location, Path):
        return False
    scheme = urlsplit(str(location)).scheme.lower()
    return scheme in REMOTE_SCHEMES


def local_path(location: str | Path) -> Path:
    """A plain path or `file://` URI as an absolute local path.

    Any other `scheme://` is refused: taken as a path, `ftp://host/x` would quietly
    become a directory `ftp:/host/x` under the working directory.
    """
    text = str(location)
    scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", text) if isinstance(location, str) else None
    if scheme and scheme.group(1).lower() != "file":
        raise ConfigError(
            f"{redact_url(text)}: unsupported storage scheme {scheme.group(1)!r}",
            "use a local directory, file://, s3://bucket/prefix, gs://bucket/prefix, "
            "az://container/prefix or abfs://container@account.dfs.core.windows.net/prefix",
        )
    if text.startswith("file://"):
        text = unquote(urlsplit(text).path)
    return Path(text).expanduser().resolve()


def redact_uri(uri: str) -> str:
    """Drop user info, passwords and query strings (SAS tokens, keys) from a URI."""
    parts = urlsplit(uri)
    if not parts.scheme or parts.scheme.lower() not in (*REMOTE_SCHEMES, "file"):
        return uri
    return redact_url(uri)


def join_uri(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts if p)])


@dataclass
class RemoteLocation:
    """A filesystem and a path inside it (bucket/prefix), with the redacted URI to show."""

    filesystem: pafs.FileSystem
    path: str
    uri: str

    def child(self, *parts: str) -> RemoteLocation:
        path = "/".join([self.path.rstrip("/"), *(p.strip("/") for p in parts if p)])
        return RemoteLocation(self.filesystem, path, join_uri(self.uri, *parts))


def _secret(settings: Settings, env_name: str | None) -> str | None:
    if env_name is None:
        return None
    value = os.environ.get(env_name)
    if not value:
        raise ConfigError(
            f"the variable {env_name} named in settings is not set",
            f"export {env_name}, or unset the setting to use the provider's credential chain",
        )
    return value


def _s3(settings: Settings) -> pafs.FileSystem:
    import pyarrow.fs as pafs

    kwargs: dict[str, Any] = {}
    endpoint = settings.s3_endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        split = urlsplit(endpoint)
        kwargs["endpoint_override"] = split.netloc or endpoint
        kwargs["scheme"] = split.scheme or "https"
    region = (
        settings.s3_region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    )
    if region:
        kwargs["region"] = region
    access = _secret(settings, settings.s3_access_key_env)
    secret = _secret(settings, settings.s3_secret_key_env)
    if access and secret:
        kwargs["access_key"] = access
        kwargs["secret_key"] = secret
    # A few quick retries: a wrong endpoint should fail in seconds, not minutes.
    kwargs["retry_strategy"] = pafs.AwsStandardS3RetryStrategy(max_attempts=3)
    kwargs["connect_timeout"] = 10
    kwargs["request_timeout"] = 60
    return pafs.S3FileSystem(**kwargs)


def open_location(uri: str, settings: Settings) -> RemoteLocation:
    """The filesystem for an object-store URI; credentials from the provider's chain."""
    import pyarrow as pa
    import pyarrow.fs as pafs

    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    shown = redact_uri(uri)
    if not parts.netloc:
        raise ConfigError(f"{shown} names no bucket", f"use e.g. {scheme}://bucket/prefix")
    if (parts.username or parts.password) and scheme not in ("abfs", "abfss"):
        raise ConfigError(
            f"{shown}: credentials in the URI are not accepted (they would end up in logs "
            "and the catalog)",
            "remove them from the URI; use the provider's credential chain or "
            "ELYSIA_S3_ACCESS_KEY_ENV/ELYSIA_S3_SECRET_KEY_ENV",
        )
    prefix = parts.path.strip("/")
    try:
        if scheme == "s3":
            fs: pafs.FileSystem = _s3(settings)
            path = "/".join(p for p in (parts.netloc, prefix) if p)
        elif scheme in ("gs", "gcs"):
            fs = pafs.GcsFileSystem()
            path = "/".join(p for p in (parts.netloc, prefix) if p)
        elif scheme == "az" or (scheme in ("abfs", "abfss") and "@" not in parts.netloc):
            account = os.environ.get("AZURE_STORAGE_ACCOUNT_NAME") or os.environ.get(
                "AZURE_STORAGE_ACCOUNT"
            )
            if not account:
                raise ConfigError(
                    f"{shown} needs a storage account",
                    "set AZURE_STORAGE_ACCOUNT_NAME, or use "
                    "abfs://container@account.dfs.core.windows.net/prefix",
                )
            fs = pafs.AzureFileSystem(account_name=account)
            path = "/".join(p for p in (parts.netloc, prefix) if p)
        elif scheme in ("abfs", "abfss"):
            fs, path = pafs.FileSystem.from_uri(
                urlunsplit((scheme, parts.netloc, parts.path, "", ""))
            )
        else:
            raise ConfigError(
                f"{shown}: unknown storage scheme {scheme!r}",
                "use a path, file://, s3://, gs://, az:// or abfs://",
            )
    except (ImportError, AttributeError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ConfigError(
            f"cannot open {shown}: {exc}",
            "this pyarrow build lacks that filesystem, or its settings are wrong",
        ) from None
    return RemoteLocation(fs, path, shown)


def storage_error(exc: BaseException, uri: str, action: str) -> ElysiaError:
    """One clear error (and its kind) for what the object store said."""
    text = str(exc)
    upper = text.upper()
    if "NO_SUCH_BUCKET" in upper or "NOSUCHBUCKET" in upper or "BUCKET DOES NOT EXIST" in upper:
        return NotFoundError(
            f"{action} {uri}: the bucket does not exist",
            "create the bucket first, or check the bucket name in the URI",
        )
    if any(
        word in upper
        for word in (
            "ACCESS_DENIED",
            "ACCESSDENIED",
            "INVALIDACCESSKEYID",
            "INVALID_ACCESS_KEY_ID",
            "SIGNATURE",
            "FORBIDDEN",
            "HTTP STATUS 403",
            "HTTP STATUS 401",
        )
    ):
        return StorageAccessDenied(
            f"{action} {uri}: access denied (the credentials were refused)",
            "check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, the provider's profile, or the "
            "variables named by ELYSIA_S3_ACCESS_KEY_ENV/ELYSIA_S3_SECRET_KEY_ENV",
        )
    first = text.splitlines()[0] if text else type(exc).__name__
    return StorageUnavailable(
        f"{action} {uri} failed: {first[:300]}",
        "check the URI, the endpoint (ELYSIA_S3_ENDPOINT_URL) and the network; nothing "
        "incomplete is ever taken for a backup",
    )


# ------------------------------------------------------------------ publishing


def write_bytes(location: RemoteLocation, payload: bytes) -> None:
    try:
        with location.filesystem.open_output_stream(location.path) as out:
            out.write(payload)
    except OSError as exc:
        raise storage_error(exc, location.uri, "writing") from None


def read_bytes(location: RemoteLocation) -> bytes:
    try:
        with location.filesystem.open_input_stream(location.path) as stream:
            return stream.read()
    except FileNotFoundError:
        raise NotFoundError(
            f"{location.uri} does not exist",
            "a backup without manifest.json is incomplete or deleted; list backups with "
            "`elysiactl col catalog list`",
        ) from None
    except OSError as exc:
        raise storage_error(exc, location.uri, "reading") from None


def exists(location: RemoteLocation) -> bool:
    import pyarrow.fs as pafs

    try:
        return location.filesystem.get_file_info(location.path).type != pafs.FileType.NotFound
    except OSError as exc:
        raise storage_error(exc, location.uri, "checking") from None


def delete_backup(location: RemoteLocation) -> bool:
    """Delete every object under a backup's prefix; False when nothing was there."""
    import pyarrow.fs as pafs

    try:
        info = location.filesystem.get_file_info(location.path)
        if info.type == pafs.FileType.NotFound:
            return False
        location.filesystem.delete_dir(location.path)
        return True
    except OSError as exc:
        raise storage_error(exc, location.uri, "deleting") from None


def parquet_dataset(location: RemoteLocation) -> Any:
    """A pyarrow dataset over a remote backup's Parquet files (for DuckDB)."""
    import pyarrow.dataset as ds

    try:
        return ds.dataset(
            location.child("data").path,
            filesystem=location.filesystem,
            format="parquet",
            # No hive partitioning: every file keeps the partition column itself.
            exclude_invalid_files=False,
        )
    except OSError as exc:
        raise storage_error(exc, location.uri, "reading") from None


def download_tree(location: RemoteLocation, dest: Path) -> int:
    """Copy every object under a backup's prefix into `dest`; the number of files.

    `verify` checks the copy with the same code as a local backup, so a remote file is
    re-read and re-hashed byte for byte, and stray or missing objects show up as such.
    """
    import pyarrow.fs as pafs

    fs = location.filesystem
    try:
        infos = fs.get_file_info(pafs.FileSelector(location.path, recursive=True))
    except FileNotFoundError:
        return 0
    except OSError as exc:
        raise storage_error(exc, location.uri, "listing") from None
    copied = 0
    base = location.path.rstrip("/") + "/"
    for info in infos:
        if info.type != pafs.FileType.File or not info.path.startswith(base):
            continue
        target = dest / info.path[len(base) :]
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with fs.open_input_stream(info.path) as stream, open(target, "wb") as out:
                while chunk := stream.read(CHUNK_BYTES):
                    out.write(chunk)
        except OSError as exc:
            raise storage_error(
                exc, f"{location.uri}/{info.path[len(base) :]}", "reading"
            ) from None
        copied += 1
    return copied


def stale_prefixes(root: RemoteLocation, older_than_s: float, now: float) -> list[RemoteLocation]:
    """Backup prefixes under `root/<collection>/` that never got their manifest.

    Those are uploads that were interrupted; once nothing under them has changed for
    `older_than_s` seconds they cannot be an upload still under way.
    """
    import pyarrow.fs as pafs

    try:
        infos = root.filesystem.get_file_info(pafs.FileSelector(root.path, recursive=True))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise storage_error(exc, root.uri, "listing") from None
    base = root.path.rstrip("/") + "/"
    newest: dict[tuple[str, str], float] = {}
    complete: set[tuple[str, str]] = set()
    for info in infos:
        if info.type != pafs.FileType.File or not info.path.startswith(base):
            continue
        parts = info.path[len(base) :].split("/")
        if len(parts) < 3:
            continue
        key = (parts[0], parts[1])
        if parts[2] == MANIFEST_NAME and len(parts) == 3:
            complete.add(key)
        mtime = info.mtime.timestamp() if info.mtime is not None else now
        newest[key] = max(newest.get(key, 0.0), mtime)
    return [
        root.child(collection, backup_id)
        for (collection, backup_id), mtime in sorted(newest.items())
        if (collection, backup_id) not in complete and now - mtime >= older_than_s
    ]
