"""Records Weaviate refused even after retries, kept where an operator can see and fix them.

A change set is applied even when some objects are rejected (one bad file must not
hold back a repository), so the rejected ones go to
`dead_letter/<collection>/<changeset-stem>.jsonl`, one JSON line per record with
the server's reason and the object we tried to write. The object is stored whole,
so a retry works after the change set itself was cleaned out of processed/, and an
operator can correct a property in the file before retrying.

A dead letter is resolved when a retry succeeds, or when a later change set
successfully writes or deletes the same document (retrying then would overwrite
newer content with older).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from elysia_pipelines.clock import utc_now_iso
from elysia_pipelines.errors import ElysiaError
from elysia_pipelines.layout import dead_letter_dir
from elysia_pipelines.settings import Settings
from elysia_pipelines.weaviate.writes import ObjectToWrite

if TYPE_CHECKING:
    import weaviate


@dataclass(frozen=True)
class DeadLetter:
    collection: str
    changeset: str  # file name of the change set the record came from
    index: int  # position among its change records (0-based)
    op: str
    path: str
    uuid: str
    error: str
    attempts: int
    failed_at: str
    properties: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DeadLetterRetry:
    retried: int
    resolved: int
    still_failing: int


def dead_letter_file(settings: Settings, collection: str, changeset: str) -> Path:
    return dead_letter_dir(settings, collection) / f"{Path(changeset).stem}.jsonl"


def _read(path: Path) -> list[DeadLetter]:
    letters = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            letters.append(DeadLetter(**json.loads(line)))
        except (ValueError, TypeError) as exc:
            raise ElysiaError(
                f"dead-letter file {path} line {number} is not a dead letter: {exc}",
                "dead-letter files may be edited by hand; keep one JSON object per line "
                "with the fields ingestion wrote",
            ) from None
    return letters


def _write(path: Path, letters: list[DeadLetter]) -> None:
    """Rewrite (or remove) a dead-letter file atomically; they are small and rare."""
    if not letters:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for letter in letters:
            handle.write(json.dumps(letter.to_json(), ensure_ascii=False, sort_keys=True) + "\n")
        handle.flush()
    tmp.replace(path)


def record_dead_letters(settings: Settings, letters: list[DeadLetter]) -> None:
    """Add letters, replacing earlier ones for the same document of the same change set.

    Replacing (not appending) keeps a resumed run, which re-applies its last batch,
    from listing the same failure twice.
    """
    by_file: dict[Path, list[DeadLetter]] = {}
    for letter in letters:
        by_file.setdefault(
            dead_letter_file(settings, letter.collection, letter.changeset), []
        ).append(letter)
    for path, new in by_file.items():
        merged = {letter.uuid: letter for letter in _read(path)}
        for letter in new:
            old = merged.get(letter.uuid)
            merged[letter.uuid] = (
                replace(letter, attempts=old.attempts + letter.attempts) if old else letter
            )
        _write(path, list(merged.values()))


def open_dead_letters(settings: Settings, collection: str) -> list[DeadLetter]:
    """Every unresolved dead letter of a collection (the "no open dead letters" check)."""
    directory = dead_letter_dir(settings, collection)
    if not directory.is_dir():
        return []
    letters: list[DeadLetter] = []
    for path in sorted(directory.glob("*.jsonl")):
        letters.extend(_read(path))
    return letters


def open_dead_letter_uuids(settings: Settings, collection: str) -> set[str]:
    return {letter.uuid for letter in open_dead_letters(settings, collection)}


def resolve_dead_letters(settings: Settings, collection: str, uuids: set[str]) -> int:
    """Drop open letters for documents that were since written or deleted successfully."""
    if not uuids:
        return 0
    directory = dead_letter_dir(settings, collection)
    if not directory.is_dir():
        return 0
    resolved = 0
    for path in sorted(directory.glob("*.jsonl")):
        letters = _read(path)
        keep = [letter for letter in letters if letter.uuid not in uuids]
        if len(keep) != len(letters):
            resolved += len(letters) - len(keep)
            _write(path, keep)
    return resolved


def retry_dead_letters(
    settings: Settings,
    client: weaviate.WeaviateClient,
    collection: str,
) -> DeadLetterRetry:
    """Write every open dead letter's object again; resolved letters are removed."""
    from elysia_pipelines.weaviate.objects import upsert

    directory = dead_letter_dir(settings, collection)
    if not directory.is_dir():
        return DeadLetterRetry(0, 0, 0)
    retried = resolved = failing = 0
    for path in sorted(directory.glob("*.jsonl")):
        letters = _read(path)
        writable = [letter for letter in letters if letter.properties is not None]
        if not writable:
            continue
        result = upsert(
            client,
            collection,
            [ObjectToWrite(uuid=lt.uuid, properties=lt.properties or {}) for lt in writable],
            max_batch_objects=settings.batch_max_objects,
            max_batch_bytes=settings.batch_max_bytes,
        )
        errors = {failure.uuid: failure.error for failure in result.failures}
        now = utc_now_iso()
        keep = []
        for letter in letters:
            if letter.properties is None:
                keep.append(letter)
            elif letter.uuid in errors:
                keep.append(
                    replace(
                        letter,
                        error=str(errors[letter.uuid]),
                        attempts=letter.attempts + 1,
                        failed_at=now,
                    )
                )
            else:
                resolved += 1
        retried += len(writable)
        failing += len(keep)
        _write(path, keep)
    return DeadLetterRetry(retried, resolved, failing)
