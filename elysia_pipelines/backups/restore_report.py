"""What a restore did: the report `col restore` prints or returns as JSON.

Its own module, free of pyarrow: a restore run in the warm worker sends it back to a
command process that has imported none of the restore machinery.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class RestoreReport:
    backup_id: str
    source_collection: str
    target_collection: str
    strategy: str
    dry_run: bool
    incremental: bool
    resumed: bool
    total: int = 0  # backup objects considered (after --objects)
    created: int = 0
    updated: int = 0
    skipped: int = 0
    unchanged: int = 0
    failed: int = 0  # dead letters of this run (including conversion failures)
    batches: int = 0
    batches_already_done: int = 0  # skipped thanks to the checkpoint (--resume)
    dead_letters_retried: int = 0
    collection_created: bool = False
    tenants_created: int = 0  # multi-tenant collections: tenants the restore added
    properties: list[dict[str, Any]] = field(default_factory=list)  # migration plan
    conversions: list[dict[str, Any]] = field(default_factory=list)
    added_properties: list[str] = field(default_factory=list)
    renamed_properties: dict[str, str] = field(default_factory=dict)
    dead_letter_path: str | None = None
    checkpoint_path: str | None = None
    ids: dict[str, list[str]] | None = None
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def written(self) -> int:
        return self.created + self.updated

    @property
    def objects_per_s(self) -> float:
        done = self.created + self.updated + self.skipped + self.unchanged + self.failed
        return done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["written"] = self.written
        data["objects_per_s"] = round(self.objects_per_s, 1)
        if data["ids"] is None:
            data.pop("ids")
        return data
