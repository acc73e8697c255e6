"""A backup's options and its result: what `col backup` builds and prints.

Their own module, free of the writers (formats, storage, the REST session): a backup
run in the warm worker takes the options from, and sends the result back to, a
command process that has imported none of those.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from elysia_pipelines.backups.layout import FileEntry


@dataclass
class BackupResult:
    backup_id: str
    collection: str
    path: Path | str  # a directory, or the redacted URI of a remote backup
    format: str
    compression: str
    level: int | None
    object_count: int
    size_bytes: int
    files: list[FileEntry]
    manifest_checksum: str
    started_at: str
    finished_at: str
    duration_s: float
    read_seconds: float  # waiting for the object source (Weaviate)
    write_seconds: float  # converting, compressing, hashing, writing
    include_vectors: bool
    vector_dimension: int | None
    partition_by: str | None
    filter: str | None
    tags: list[str] = field(default_factory=list)
    scanned_count: int = 0  # objects read from the source (more than written when filtered)
    tenant_count: int = 0  # tenants of a multi-tenant collection (0: single-tenant)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        return data


@dataclass(frozen=True)
class BackupOptions:
    """How to back up: what `col backup`'s flags and the `collection_backup` asset choose.

    Frozen so one value can be built from the inputs, checked once and passed down.
    `filter_expr` is the user's expression (`backup_collection` compiles it and
    passes its normalised text on to `write_backup`, which only records it).
    """

    format: str = "parquet"
    compression: str = "auto"
    level: int | None = None
    filter_expr: str | None = None
    output: Path | str | None = None  # a directory or an object-store URI
    include_vectors: bool = True
    partition_by: str | None = None
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # A blank tag cannot be told apart in `catalog list` and matches no `--tag` filter.
        if any(not tag.strip() for tag in self.tags):
            from elysia_pipelines.errors import ElysiaError

            raise ElysiaError(
                "a backup tag is empty", "give every --tag a name, e.g. --tag nightly"
            )

    def validate(self, types: dict[str, str]) -> None:
        """Refuse options that cannot apply to a collection with these property types."""
        from elysia_pipelines.backups.export import _validate_options

        _validate_options(self.format, self.compression, self.level, self.partition_by, types)
