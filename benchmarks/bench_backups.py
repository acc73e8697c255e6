"""What the restore benchmarks share: backups of real documents, and peak memory.

`benchmarks/restore.py` and `benchmarks/remote_storage.py` restore the same kind of
backup (real source files with 32-dim vectors, written by the exporter with the schema
of a provisioned collection) and measure memory the same way; one copy here, so their
figures stay comparable.
"""

from __future__ import annotations

import resource
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from elysia_pipelines.backups.export import BackupOptions, BackupResult, BackupSource, write_backup
from elysia_pipelines.backups.formats import BackupObject
from elysia_pipelines.documents import document_uuid
from elysia_pipelines.settings import Settings
from elysia_pipelines.weaviate.schema import (
    CollectionSpec,
    delete_collection,
    describe_collection,
    ensure_collection,
)
from elysia_pipelines_tests.backups.sources import documents, vector_for

DIM = 32


def bench_objects(n: int, dim: int) -> Iterator[BackupObject]:
    """`n` documents of real files; files are reused under `<repo>-copyN` when needed."""
    base = list(documents(n, dim=None, max_bytes=64_000))
    if not base:
        raise SystemExit("no source files found in site-packages")
    for i in range(n):
        _, props, _ = base[i % len(base)]
        round_ = i // len(base)
        props = dict(props)
        if round_:
            props["repo"] = f"{props['repo']}-copy{round_}"
        uuid = document_uuid(props["repo"], props["path"])
        yield BackupObject(uuid, props, vector_for(f"{round_}:{props['content'][:4096]}", dim))


def write_bench_backup(
    settings: Settings,
    client: Any,
    collection: str,
    n: int,
    options: BackupOptions,
    *,
    record_in_catalog: bool = True,
) -> BackupResult:
    """A backup of `n` bench objects as `collection`; the schema is the one the pipeline
    provisions (a scratch collection on `client`'s server, deleted again)."""
    ensure_collection(client, CollectionSpec(name="BenchSource"))
    description = describe_collection(client, "BenchSource")
    delete_collection(client, "BenchSource")
    return write_backup(
        bench_objects(n, DIM),
        BackupSource(collection, description, total=n),
        settings,
        options,
        record_in_catalog=record_in_catalog,
    )


def peak_mb() -> float:
    """Peak resident memory of this process image, in MiB.

    `VmHWM` rather than `ru_maxrss`: Linux carries `ru_maxrss` over from the parent's
    memory at fork, so a child of a big parent would report the parent's size.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
