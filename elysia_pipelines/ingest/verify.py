"""Asset-check helpers: does what Weaviate holds match the git mirror?

Comparing every document is as expensive as a full sync, so the check samples.
Document UUIDs are uuid5 hashes, uniformly spread, so "the next N objects after a
random UUID" is a cheap random sample: one cursor page, no full scan.
"""

from __future__ import annotations

import hashlib
import random
import subprocess
import uuid as uuid_lib
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from elysia_pipelines.changes.format import HASH_PREFIX
from elysia_pipelines.errors import ElysiaError
from elysia_pipelines.weaviate.session import iter_objects
from elysia_pipelines.weaviate.stored import StoredObject

_SAMPLE_PROPERTIES = ["repo", "path", "content_hash"]


@dataclass(frozen=True)
class Mismatch:
    path: str
    problem: str  # "content differs" | "not in git at <commit>"
    weaviate_hash: str | None
    git_hash: str | None


def _sample(client: Any, collection: str, size: int, rng: random.Random) -> list[StoredObject]:
    """`size` documents from a random point of the uuid order, wrapping past the end."""
    start = str(uuid_lib.UUID(int=rng.getrandbits(128)))

    def page(after: str | None, limit: int) -> list[StoredObject]:
        objects = iter_objects(
            client,
            collection,
            page_size=limit,
            return_properties=_SAMPLE_PROPERTIES,
            start_after=after,
        )
        return list(islice(objects, limit))

    objects = page(start, size)
    if len(objects) < size:  # wrapped past the highest UUID: continue from the start
        seen = {o.uuid for o in objects}
        objects += [o for o in page(None, size - len(objects)) if o.uuid not in seen]
    return objects


def sample_precondition(mirror_path: Path, commit: str) -> str | None:
    """Why the sample cannot be compared with git at all, or None when it can.

    A check must describe these states rather than raise: the mirror is re-created
    by the next sync, and a foreign producer's change set may name a commit our
    mirror never had.
    """
    missing = f"the mirror {Path(mirror_path).name} is missing (the next sync re-creates it)"
    if not Path(mirror_path).is_dir():
        return missing
    try:
        found = subprocess.run(
            ["git", "-C", str(mirror_path), "cat-file", "-e", f"{commit}^{{commit}}"],
            capture_output=True,
        )
    except OSError as exc:
        return f"cannot run git on the mirror: {exc}"
    if found.returncode != 0 and b"not a git repository" in found.stderr:
        return missing
    if found.returncode != 0:
        return (
            f"the last applied commit {commit[:12]} is not in the mirror (a change set from "
            "another producer?): nothing to compare with"
        )
    return None


def git_blob_hashes(mirror_path: Path, commit: str, paths: list[str]) -> dict[str, str | None]:
    """`sha256:` of each path's blob at `commit` (None if absent), via one `git cat-file --batch`."""
    if not paths:
        return {}
    request = "".join(f"{commit}:{path}\n" for path in paths).encode("utf-8")
    try:
        completed = subprocess.run(
            ["git", "-C", str(mirror_path), "cat-file", "--batch"],
            input=request,
            capture_output=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ElysiaError(
            f"cannot read blobs from the mirror {mirror_path}: {exc}",
            "check the mirror exists (it is re-created by the next sync)",
        ) from None
    out = completed.stdout
    hashes: dict[str, str | None] = {}
    position = 0
    for path in paths:
        header_end = out.index(b"\n", position)
        header = out[position:header_end].split()
        position = header_end + 1
        if len(header) == 3 and header[1] == b"blob":
            size = int(header[2])
            data = out[position : position + size]
            position += size + 1  # content is followed by a newline
            hashes[path] = HASH_PREFIX + hashlib.sha256(data).hexdigest()
        else:  # "<object> missing", or a tree/submodule
            if len(header) == 3:
                position += int(header[2]) + 1
            hashes[path] = None
    return hashes


def sample_documents_match(
    client: Any,  # a weaviate-client client or a weaviate.session.WeaviateSession
    collection: str,
    mirror_path: Path,
    commit: str,
    sample_size: int,
    *,
    seed: int | None = None,
) -> list[Mismatch]:
    """Sampled documents whose content_hash differs from the blob at `commit`.

    An empty list means every sampled document matches. Files left out on purpose
    (binary, too large, excluded) have no document, so they are never sampled;
    missing documents are what the count check catches.
    """
    rng = random.Random(seed)
    objects = _sample(client, collection, sample_size, rng)
    paths = [str(o.properties.get("path")) for o in objects]
    hashes = git_blob_hashes(Path(mirror_path), commit, paths)
    mismatches = []
    for obj, path in zip(objects, paths, strict=True):
        stored = obj.properties.get("content_hash")
        expected = hashes.get(path)
        if expected is None:
            mismatches.append(Mismatch(path, f"not in git at {commit[:12]}", stored, None))
        elif stored != expected:
            mismatches.append(Mismatch(path, "content differs", stored, expected))
    return mismatches
