"""Real documents for backup tests: the `.py` files of installed packages.

Real source code (not lorem ipsum) is what makes compression ratios, escaping and
size distributions in tests and the benchmark honest.
"""

from __future__ import annotations

import functools
import hashlib
import math
import random
import sysconfig
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from elysia_pipelines.backups.formats import BackupObject
from elysia_pipelines.documents import (
    DOCUMENT_PROPERTIES,
    document_uuid,
    file_name_and_extension,
)

LANGUAGES = {
    "py": "python",
    "pyi": "python",
    "pyx": "cython",
    "pxd": "cython",
    "h": "c",
    "c": "c",
    "cc": "cpp",
    "js": "javascript",
    "css": "css",
    "txt": "text",
    "md": "markdown",
    "rst": "restructuredtext",
    "json": "json",
    "yaml": "yaml",
    "f90": "fortran",
}
PATTERNS = tuple(f"**/*.{ext}" for ext in LANGUAGES)


def site_packages() -> Path:
    return Path(sysconfig.get_paths()["purelib"])


def stdlib() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


@functools.lru_cache(maxsize=4)
def _candidates(max_bytes: int, roots: tuple[Path, ...]) -> tuple[tuple[Path, Path], ...]:
    # Walking site-packages takes seconds: once per process is enough.
    found = []
    for root in roots:
        for pattern in PATTERNS:
            for p in root.glob(pattern):
                relative = p.relative_to(root).as_posix()
                if "/" not in relative or "site-packages/" in relative or not p.is_file():
                    continue
                if 0 < p.stat().st_size <= max_bytes:
                    found.append((root, p))
    return tuple(sorted(found))


def source_files(
    limit: int,
    *,
    max_bytes: int = 200_000,
    seed: int = 7,
    roots: tuple[Path, ...] | None = None,
) -> list[tuple[Path, Path]]:
    """`limit` (root, file) pairs of readable source files, a deterministic sample.

    The default root is the venv's site-packages; the benchmark adds the standard
    library to reach more than 10,000 files.
    """
    candidates = list(_candidates(max_bytes, roots or (site_packages(),)))
    rng = random.Random(seed)
    rng.shuffle(candidates)
    return candidates[:limit]


def vector_for(text: str, dim: int) -> list[float]:
    """A deterministic float32-exact pseudo-embedding of the text."""
    import numpy as np

    seed = int.from_bytes(hashlib.sha256(text.encode("utf-8", "replace")).digest()[:8], "big")
    values = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return [float(v) for v in values]


def documents(
    limit: int,
    *,
    dim: int | None = 8,
    seed: int = 7,
    max_bytes: int = 200_000,
    roots: tuple[Path, ...] | None = None,
) -> Iterator[tuple[str, dict[str, Any], list[float] | None]]:
    """(uuid, properties, vector) for real files, shaped like the pipeline's documents."""
    base = datetime(2024, 1, 1, tzinfo=UTC)
    files = source_files(limit, seed=seed, max_bytes=max_bytes, roots=roots)
    for i, (root, path) in enumerate(files):
        relative = path.relative_to(root).as_posix()
        repo = relative.split("/", 1)[0]
        inner = relative.split("/", 1)[1] if "/" in relative else relative
        raw = path.read_bytes()
        content = raw.decode("utf-8", errors="replace")
        file_name, extension = file_name_and_extension(inner)
        props: dict[str, Any] = {
            "repo": repo,
            "path": inner,
            "file_name": file_name,
            "extension": extension,
            "language": LANGUAGES.get(extension, "other"),
            "content": content,
            "content_hash": "sha256:" + hashlib.sha256(raw).hexdigest(),
            "size_bytes": len(raw),
            "line_count": content.count("\n") + (0 if content.endswith("\n") else 1),
            "commit": hashlib.sha1(repo.encode()).hexdigest(),
            # Spread over 30 days, whole microseconds: what Weaviate stores.
            "synced_at": base + timedelta(days=i % 30, seconds=math.floor(i * 37.5)),
        }
        yield document_uuid(repo, inner), props, (vector_for(content, dim) if dim else None)


def backup_objects(
    limit: int, *, dim: int | None = 8, seed: int = 7, roots: tuple[Path, ...] | None = None
) -> list[BackupObject]:
    return [BackupObject(u, p, v) for u, p, v in documents(limit, dim=dim, seed=seed, roots=roots)]


def populate(
    client: Any,
    collection: str,
    limit: int,
    *,
    dim: int | None = 8,
    seed: int = 7,
    roots: tuple[Path, ...] | None = None,
) -> int:
    """Create a document collection and upsert `limit` real files into it."""
    from elysia_pipelines.weaviate.objects import ObjectToWrite, upsert
    from elysia_pipelines.weaviate.schema import CollectionSpec, ensure_collection

    ensure_collection(client, CollectionSpec(name=collection))
    batch: list[ObjectToWrite] = []
    written = 0
    for uuid, props, vector in documents(limit, dim=dim, seed=seed, roots=roots):
        batch.append(ObjectToWrite(uuid, props, vector))
        if len(batch) >= 500:
            written += _upsert(upsert, client, collection, batch)
            batch = []
    if batch:
        written += _upsert(upsert, client, collection, batch)
    return written


def _upsert(upsert: Any, client: Any, collection: str, batch: list[Any]) -> int:
    result = upsert(client, collection, batch, max_batch_objects=200, max_batch_bytes=8_000_000)
    if result.failures:
        raise RuntimeError(f"test data rejected: {result.failures[0].error}")
    return result.written


def document_description(name: str = "Docs", dim: int = 8) -> dict[str, Any]:
    """The shape `weaviate.schema.describe_collection` returns, for offline writer tests."""
    return {
        "format": 1,
        "name": name,
        "properties": [
            {"name": p.name, "data_type": p.data_type, "filterable": p.filterable}
            for p in DOCUMENT_PROPERTIES
        ],
        "vectorizer": "none",
        "vectors": [{"name": None, "vectorizer": "none", "dimension": dim}],
        "vector_dimension": dim,
        "replication_factor": 1,
    }
