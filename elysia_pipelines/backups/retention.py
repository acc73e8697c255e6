"""Retention: delete old backups, but never the newest `keep_last` good ones per collection.

Deleting a backup is the one irreversible thing this package does, so the rules are
deliberately narrow: only catalogued backups are considered, a directory is removed
only when its name is the backup id recorded for it, the newest `keep_last` complete
or verified backups of each collection survive whatever their age, and `dry_run`
reports the same plan without touching anything. Stale `.tmp` directories (crashed
exports) are cleaned too, once nothing has written to them for `STALE_TMP_AGE`; in
object storage the same goes for backup prefixes that never got their manifest.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from elysia_pipelines.backups import storage
from elysia_pipelines.backups.catalog import LIVE_STATUSES, Catalog, CatalogEntry, open_catalog
from elysia_pipelines.backups.layout import is_tmp_dir_name, parse_rfc3339
from elysia_pipelines.backups.storage import is_remote
from elysia_pipelines.errors import ElysiaError
from elysia_pipelines.settings import Settings

# A running export touches its files continuously; an hour of silence means it died.
STALE_TMP_AGE = timedelta(hours=1)


@dataclass
class CleanupItem:
    id: str
    collection: str
    path: str
    created_at: str
    size_bytes: int
    status: str


@dataclass
class CleanupReport:
    dry_run: bool
    cutoff: str
    keep_last: int
    deleted: list[CleanupItem] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    stale_tmp_dirs: list[str] = field(default_factory=list)
    freed_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _newest_mtime(path: Path) -> float:
    newest = path.stat().st_mtime
    for child in path.rglob("*"):
        try:
            newest = max(newest, child.stat().st_mtime)
        except OSError:
            continue
    return newest


def _stale_tmp_dirs(roots: set[Path], now: float) -> list[Path]:
    stale = []
    for root in roots:
        if not root.is_dir():
            continue
        for collection_dir in root.iterdir():
            if not collection_dir.is_dir():
                continue
            for child in collection_dir.iterdir():
                if (
                    child.is_dir()
                    and is_tmp_dir_name(child.name)
                    and now - _newest_mtime(child) >= STALE_TMP_AGE.total_seconds()
                ):
                    stale.append(child)
    return sorted(stale)


def cleanup(
    settings: Settings,
    older_than: timedelta | None = None,
    keep_last: int | None = None,
    dry_run: bool = False,
    *,
    collection: str | None = None,
    now: datetime | None = None,
) -> CleanupReport:
    """Delete backups older than `older_than` except the newest `keep_last` per collection.

    Defaults come from settings (`backup_retention_days`, `backup_keep_last`).
    """
    if older_than is None:
        older_than = timedelta(days=settings.backup_retention_days)
    if keep_last is None:
        keep_last = settings.backup_keep_last
    if keep_last < 0:
        raise ElysiaError(f"keep_last must be >= 0, not {keep_last}", "use e.g. --keep-last 3")
    if older_than < timedelta(0):
        raise ElysiaError("--older-than must not be negative", "use e.g. --older-than 30d")
    now = now or datetime.now(UTC)
    cutoff = now - older_than
    report = CleanupReport(dry_run=dry_run, cutoff=cutoff.isoformat(), keep_last=keep_last)
    roots = {settings.backups_dir}
    remote_roots: set[str] = set()
    if settings.backup_uri and is_remote(settings.backup_uri):
        remote_roots.add(settings.backup_uri.rstrip("/"))
    with open_catalog(settings) as catalog:
        names = [collection] if collection else catalog.collections()
        for name in names:
            entries = catalog.list(collection=name)  # newest first, deleted excluded
            live_seen = 0
            for entry in entries:
                if is_remote(entry.path):
                    remote_roots.add(entry.path.rstrip("/").rsplit("/", 2)[0])
                else:
                    roots.add(Path(entry.path).parent.parent)
                protected = False
                if entry.status in LIVE_STATUSES and live_seen < keep_last:
                    live_seen += 1
                    protected = True
                if protected or parse_rfc3339(entry.created_at) >= cutoff:
                    report.kept.append(entry.id)
                    continue
                if is_remote(entry.path):
                    _expire_remote(entry, report, catalog, settings, dry_run)
                    continue
                path = Path(entry.path)
                if path.exists() and path.name != entry.id:
                    # Never delete a directory we did not name ourselves.
                    report.kept.append(entry.id)
                    continue
                report.deleted.append(
                    CleanupItem(
                        entry.id,
                        entry.collection,
                        entry.path,
                        entry.created_at,
                        entry.size_bytes,
                        entry.status,
                    )
                )
                report.freed_bytes += entry.size_bytes if path.exists() else 0
                if not dry_run:
                    if path.exists():
                        shutil.rmtree(path)
                    catalog.set_status(entry.id, "deleted")
    for stale in _stale_tmp_dirs(roots, time.time()):
        report.stale_tmp_dirs.append(str(stale))
        if not dry_run:
            shutil.rmtree(stale, ignore_errors=True)
    for root_uri in sorted(remote_roots):
        root = storage.open_location(root_uri, settings)
        for prefix in storage.stale_prefixes(root, STALE_TMP_AGE.total_seconds(), time.time()):
            report.stale_tmp_dirs.append(prefix.uri)
            if not dry_run:
                storage.delete_backup(prefix)
    return report


def _expire_remote(
    entry: CatalogEntry, report: CleanupReport, catalog: Catalog, settings: Settings, dry_run: bool
) -> None:
    """Delete the objects of an expired remote backup (or, dry, say what would go)."""
    location = storage.open_location(entry.path, settings)
    if location.path.rstrip("/").rsplit("/", 1)[-1] != entry.id:
        report.kept.append(entry.id)  # never delete a prefix we did not name ourselves
        return
    present = storage.exists(location)
    report.deleted.append(
        CleanupItem(
            entry.id, entry.collection, entry.path, entry.created_at, entry.size_bytes, entry.status
        )
    )
    report.freed_bytes += entry.size_bytes if present else 0
    if not dry_run:
        if present:
            storage.delete_backup(location)
        catalog.set_status(entry.id, "deleted")
