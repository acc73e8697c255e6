"""The `filesystem` backup backend: snapshots of collections in a directory.

Layout under the backup directory given at server start (like Weaviate's
BACKUP_FILESYSTEM_PATH): `<backup_id>/backup_config.json` (status, classes, schemas)
and one `<Class>.jsonl` per collection with the objects (vectors base64-encoded).
Backups survive a server restart, so a restore test can restore into a new server.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from elysia_pipelines_tests.weaviate_server.store import (
    Collection,
    Store,
    StoredObject,
    StoreError,
    normalize_class_name,
)

BACKEND = "filesystem"
_ID_RE = re.compile(r"^[a-z0-9_-]+$")


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _select(names: list[str], include: Any, exclude: Any) -> list[str]:
    include = [normalize_class_name(n) for n in (include or [])]
    exclude = {normalize_class_name(n) for n in (exclude or [])}
    if include and exclude:
        raise StoreError(
            422, "malformed request: 'include' and 'exclude' cannot both contain values"
        )
    if include:
        missing = [n for n in include if n not in names]
        if missing:
            raise StoreError(422, f"class list {missing} does not exist")
        return include
    return [n for n in names if n not in exclude]


class Backups:
    """Create/restore with Weaviate's status answers; one lock for the status tables."""

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._restores: dict[str, dict[str, Any]] = {}

    def _check_backend(self, backend: str) -> Path:
        if backend != BACKEND or self.root is None:
            raise StoreError(
                422,
                f"backup backend {backend!r} is not enabled: start the test server with a "
                "backup directory (--backup-dir) and use backend 'filesystem'",
            )
        return self.root

    def _dir(self, root: Path, backup_id: str) -> Path:
        if not _ID_RE.match(backup_id or ""):
            raise StoreError(
                422,
                f"invalid backup id {backup_id!r}: use lowercase letters, digits, '-' and '_'",
            )
        return root / backup_id

    def _read_meta(self, folder: Path) -> dict[str, Any] | None:
        meta_path = folder / "backup_config.json"
        if not meta_path.exists():
            return None
        return json.loads(meta_path.read_text(encoding="utf-8"))

    # ------------------------------------------------------------ create

    def create(self, store: Store, backend: str, body: dict[str, Any]) -> dict[str, Any]:
        root = self._check_backend(backend)
        backup_id = str(body.get("id") or "")
        folder = self._dir(root, backup_id)
        with self._lock:
            if folder.exists():
                raise StoreError(422, f"backup {backup_id!r} already exists")
            with store.lock:
                names = _select(list(store.collections), body.get("include"), body.get("exclude"))
                if not names:
                    raise StoreError(422, "no classes to back up")
                snapshot = {
                    n: (
                        dict(store.collections[n].schema),
                        [
                            obj
                            for _, shard in store.collections[n].shards()
                            for obj in shard.objects.values()
                        ],
                    )
                    for n in names
                }
                tenants = {
                    n: {t.name: t.status for t in store.collections[n].tenants.values()}
                    for n in names
                    if store.collections[n].multi_tenant
                }
            folder.mkdir(parents=True)
            meta: dict[str, Any] = {
                "id": backup_id,
                "backend": backend,
                "path": str(folder),
                "classes": names,
                "status": "STARTED",
                "startedAt": _now(),
                "schemas": {n: s for n, (s, _) in snapshot.items()},
                "tenants": tenants,
            }
            size = 0
            for name, (_, objects) in snapshot.items():
                path = folder / f"{name}.jsonl"
                with path.open("w", encoding="utf-8") as fh:
                    for obj in objects:
                        fh.write(json.dumps(_dump(obj)) + "\n")
                size += path.stat().st_size
            meta.update(status="SUCCESS", completedAt=_now(), size=size)
            tmp = folder / "backup_config.json.tmp"
            tmp.write_text(json.dumps(meta), encoding="utf-8")
            os.replace(tmp, folder / "backup_config.json")
        return {
            "id": backup_id,
            "backend": backend,
            "path": str(folder),
            "classes": names,
            "status": "STARTED",
        }

    def create_status(self, backend: str, backup_id: str) -> dict[str, Any]:
        root = self._check_backend(backend)
        meta = self._read_meta(self._dir(root, backup_id))
        if meta is None:
            raise StoreError(404, f"backup {backup_id!r} not found")
        return {
            "id": backup_id,
            "backend": backend,
            "path": meta["path"],
            "status": meta["status"],
            "classes": meta["classes"],
            "size": meta.get("size", 0),
        }

    def list(self, backend: str) -> list[dict[str, Any]]:
        root = self._check_backend(backend)
        out = []
        for folder in sorted(root.iterdir()) if root.exists() else []:
            meta = self._read_meta(folder)
            if meta is not None:
                out.append(
                    {
                        "id": meta["id"],
                        "classes": meta["classes"],
                        "status": meta["status"],
                        "startedAt": meta.get("startedAt"),
                        "completedAt": meta.get("completedAt"),
                        "size": meta.get("size", 0),
                    }
                )
        return out

    # ------------------------------------------------------------ restore

    def restore(
        self, store: Store, backend: str, backup_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        root = self._check_backend(backend)
        folder = self._dir(root, backup_id)
        meta = self._read_meta(folder)
        if meta is None:
            raise StoreError(404, f"backup {backup_id!r} not found")
        names = _select(meta["classes"], body.get("include"), body.get("exclude"))
        with store.lock:
            existing = [n for n in names if n in store.collections]
            if existing:
                raise StoreError(
                    422,
                    f"cannot restore classes {existing}: class name already exists; "
                    "delete the collection first",
                )
            for name in names:
                coll = Collection(schema=meta["schemas"][name])
                for tenant, status in (meta.get("tenants") or {}).get(name, {}).items():
                    coll.add_tenant(tenant, status)
                with (folder / f"{name}.jsonl").open(encoding="utf-8") as fh:
                    for line in fh:
                        obj = _load(json.loads(line))
                        shard = coll.tenants[obj.tenant].shard if coll.multi_tenant else coll
                        shard.objects[obj.uuid] = obj
                        for vname, data in (obj.vectors or {}).items():
                            shard.vector_dims.setdefault(vname, len(data) // 4)
                store.collections[name] = coll
        status = {
            "id": backup_id,
            "backend": backend,
            "path": str(folder),
            "classes": names,
            "status": "SUCCESS",
        }
        with self._lock:
            self._restores[backup_id] = status
        return {**status, "status": "STARTED"}

    def restore_status(self, backend: str, backup_id: str) -> dict[str, Any]:
        self._check_backend(backend)
        with self._lock:
            status = self._restores.get(backup_id)
        if status is None:
            raise StoreError(404, f"no restore of backup {backup_id!r} was started")
        return dict(status)


def _dump(obj: StoredObject) -> dict[str, Any]:
    return {
        "id": obj.uuid,
        "properties": obj.properties,
        "vectors": {k: base64.b64encode(v).decode() for k, v in (obj.vectors or {}).items()},
        "created": obj.created_ms,
        "updated": obj.updated_ms,
        "tenant": obj.tenant,
    }


def _load(raw: dict[str, Any]) -> StoredObject:
    return StoredObject(
        uuid=raw["id"],
        properties=raw["properties"],
        vectors={k: base64.b64decode(v) for k, v in raw["vectors"].items()} or None,
        created_ms=raw["created"],
        updated_ms=raw["updated"],
        tenant=raw.get("tenant", ""),
    )
