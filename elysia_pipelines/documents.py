"""The shape of a repository file as a Weaviate object, shared by every stage.

Extraction, ingestion, provisioning, backup and restore all need the same property
list, the same deterministic UUID and the same collection naming; keeping them in one
module is what makes re-applying a change set or a restore idempotent.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass

# A fixed namespace: changing it would orphan every existing object.
DOCUMENT_NAMESPACE = uuid.UUID("6f1d7a52-3c1e-5b8e-9a3d-2f4b8c0e9d17")
_NAMESPACE_BYTES = DOCUMENT_NAMESPACE.bytes


@dataclass(frozen=True)
class PropertySpec:
    name: str
    data_type: str  # Weaviate data type name: text, int, number, boolean, date, text[] ...
    filterable: bool = True
    searchable: bool = False  # BM25 over this property
    range_filters: bool = False
    description: str = ""


DOCUMENT_PROPERTIES: tuple[PropertySpec, ...] = (
    PropertySpec("repo", "text", description="repository short name"),
    PropertySpec("path", "text", searchable=True, description="path inside the repository"),
    PropertySpec("file_name", "text", searchable=True),
    PropertySpec("extension", "text"),
    PropertySpec("language", "text"),
    PropertySpec("content", "text", filterable=False, searchable=True),
    PropertySpec("content_hash", "text", description="sha256:<hex> of the raw bytes"),
    PropertySpec("size_bytes", "int", range_filters=True),
    PropertySpec("line_count", "int", range_filters=True),
    PropertySpec("commit", "text", description="commit the content was taken from"),
    PropertySpec("synced_at", "date", range_filters=True),
)

DOCUMENT_PROPERTY_NAMES: tuple[str, ...] = tuple(p.name for p in DOCUMENT_PROPERTIES)

_REPO_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def document_uuid(repo: str, path: str) -> str:
    """uuid5 of `repo:path`: the same file always maps to the same object.

    `uuid.uuid5` spelled out (SHA-1 of namespace + name, version and variant bits):
    the same string without building a UUID object, once per file of every sync.
    """
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + f"{repo}:{path}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    x = digest.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def is_valid_repo_name(name: str) -> bool:
    return bool(_REPO_NAME_RE.match(name))


def collection_name_for(repo_name: str) -> str:
    """Weaviate class name for a repository: letters/digits/underscores, leading capital.

    `my-repo` -> `My_repo`, `2fast` -> `R_2fast`. Weaviate capitalises the first
    letter itself; doing it here keeps the name we store equal to the server's.
    """
    cleaned = re.sub(r"[^0-9A-Za-z_]", "_", repo_name).strip("_") or "Repo"
    if not cleaned[0].isalpha():
        cleaned = "R_" + cleaned
    return cleaned[0].upper() + cleaned[1:]


def file_name_and_extension(path: str) -> tuple[str, str]:
    """Same answers as PurePosixPath(path).name/.suffix, without building a path object.

    It runs once per ingested document; string slicing is several times faster.
    """
    name = path.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    extension = name[dot + 1 :].lower() if 0 < dot < len(name) - 1 else ""
    return name, extension
