"""Vectors: a stand-in text2vec-contextionary, distances and multi-target vector search.

The only vectorizer module modelled is `text2vec-contextionary` (the one Weaviate's own
integration suite runs with). It is replaced by a hashed bag of words: each word gets a
fixed pseudo-random 300-dimensional unit vector and a text is the mean of its words,
normalized. That keeps the module's contract (objects get vectors without the caller
sending any, `near_text` with `moveTo`/`moveAwayFrom` works, shared words mean nearby
vectors) without its semantics: "hiking" is not near "mountain climbing" here. Every
other module name is accepted for configuration only and never vectorizes.

Searches follow Weaviate 1.32's multi-target rules: each (target vector, query vector)
pair gives a distance and the combination (minimum by default, sum, average, manual
weights, relative score) joins them; an object without one of the targets is left out.
"""

from __future__ import annotations

import functools
import hashlib
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

CONTEXTIONARY = "text2vec-contextionary"
DIMENSIONS = 300
_WORD = re.compile(r"[0-9A-Za-z]+")


@functools.lru_cache(maxsize=4096)
def _word_vector(word: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
    vec = np.random.default_rng(seed).standard_normal(DIMENSIONS)
    return vec / np.linalg.norm(vec)


def embed_text(text: str) -> np.ndarray:
    """The hashed bag of words of `text` (lowercased words), as a unit vector."""
    words = [w.lower() for w in _WORD.findall(text)] or [""]
    vec = np.sum([_word_vector(w) for w in words], axis=0)
    norm = np.linalg.norm(vec)
    return vec / norm if norm else vec


def to_bytes(vec: np.ndarray) -> bytes:
    return np.asarray(vec, dtype="<f4").tobytes()


def decode(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<f4").astype(np.float64)


def decode_multi(data: bytes) -> list[np.ndarray]:
    """The client's packed 2-D layout: uint16 dimension, then the rows as float32."""
    (dims,) = struct.unpack("<H", data[:2])
    body = np.frombuffer(data[2:], dtype="<f4").astype(np.float64)
    return [body[i : i + dims] for i in range(0, len(body), dims)] if dims else []


def vectorizers(schema: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Vector name -> (module, module config) for every vector a module would fill."""
    named = schema.get("vectorConfig") or {}
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    if named:
        for name, cfg in named.items():
            vectorizer = cfg.get("vectorizer") or {}
            for module, module_cfg in vectorizer.items():
                if module != "none":
                    out[name] = (module, module_cfg or {})
        return out
    module = schema.get("vectorizer") or "none"
    if module != "none":
        out["default"] = (module, (schema.get("moduleConfig") or {}).get(module) or {})
    return out


def object_text(
    schema: dict[str, Any], properties: dict[str, Any], module_cfg: dict[str, Any]
) -> str:
    """What contextionary reads of an object: class name (if asked) and text values.

    `properties` of the named vector limits the source properties; a property's own
    `moduleConfig.<module>.skip` leaves it out, `vectorizePropertyName` adds its name.
    """
    parts: list[str] = []
    if module_cfg.get("vectorizeClassName", True):
        parts.append(_split_camel(schema["class"]))
    sources = module_cfg.get("properties")
    for prop in schema.get("properties") or []:
        name = prop["name"]
        if sources and name not in sources:
            continue
        if prop["dataType"][0] not in ("text", "text[]", "string", "string[]"):
            continue
        own = (prop.get("moduleConfig") or {}).get(CONTEXTIONARY) or {}
        if own.get("skip"):
            continue
        value = properties.get(name)
        if value is None:
            continue
        if own.get("vectorizePropertyName"):
            parts.append(_split_camel(name))
        parts.extend(str(v) for v in value) if isinstance(value, list) else parts.append(str(value))
    return " ".join(parts)


def _split_camel(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)


def fill_vectors(
    schema: dict[str, Any], properties: dict[str, Any], given: dict[str, bytes] | None
) -> dict[str, bytes] | None:
    """Vectors the modelled module computes for vectors the caller did not send."""
    out = dict(given or {})
    for name, (module, module_cfg) in vectorizers(schema).items():
        if module == CONTEXTIONARY and name not in out:
            out[name] = to_bytes(embed_text(object_text(schema, properties, module_cfg)))
    return out or None


def move(vec: np.ndarray, target: np.ndarray, force: float, *, away: bool) -> np.ndarray:
    """Contextionary's moveTo / moveAwayFrom (its 0.5 multiplier on the force)."""
    weight = 0.5 * force
    moved = vec - weight * target if away else (1 - weight) * vec + weight * target
    norm = np.linalg.norm(moved)
    return moved / norm if norm else moved


def distance(metric: str, q: np.ndarray, v: np.ndarray) -> float:
    if metric == "dot":
        return float(-np.dot(q, v))
    if metric == "l2-squared":
        return float(np.sum((q - v) ** 2))
    if metric == "manhattan":
        return float(np.sum(np.abs(q - v)))
    if metric == "hamming":
        return float(np.sum(q != v))
    denom = float(np.linalg.norm(q) * np.linalg.norm(v))
    return 1.0 - float(np.dot(q, v)) / denom if denom else 1.0


@dataclass
class VectorQuery:
    """(target vector, query vector, weight) pairs and how their distances combine."""

    pairs: list[tuple[str, np.ndarray, float]] = field(default_factory=list)
    combination: str = "min"  # min, sum, average, manual, relative
    max_distance: float | None = None

    def targets(self) -> set[str]:
        return {name for name, _, _ in self.pairs}


def rank(
    objects: Iterable[Any],
    query: VectorQuery,
    metrics: dict[str, str],
) -> list[tuple[Any, float]]:
    """(object, combined distance), nearest first; objects lacking a target are left out."""
    rows: list[tuple[Any, list[float]]] = []
    for obj in objects:
        stored = obj.vectors or {}
        dists: list[float] = []
        for name, q, _ in query.pairs:
            data = stored.get(name)
            if data is None or len(data) // 4 != len(q):
                break
            dists.append(distance(metrics.get(name, "cosine"), q, decode(data)))
        else:
            rows.append((obj, dists))
    if query.combination == "relative" and rows:
        columns = list(zip(*(d for _, d in rows), strict=True))
        spans = [(min(c), max(c)) for c in columns]
        rows = [
            (
                obj,
                [
                    (d - lo) / (hi - lo) if hi > lo else 0.0
                    for d, (lo, hi) in zip(ds, spans, strict=True)
                ],
            )
            for obj, ds in rows
        ]
    out: list[tuple[Any, float]] = []
    weights = [w for _, _, w in query.pairs]
    for obj, dists in rows:
        if query.combination == "sum":
            combined = sum(dists)
        elif query.combination == "average":
            combined = sum(dists) / len(dists)
        elif query.combination in ("manual", "relative"):
            combined = sum(w * d for w, d in zip(weights, dists, strict=True))
        else:
            combined = min(dists)
        if query.max_distance is not None and combined > query.max_distance + 1e-6:
            continue
        out.append((obj, combined))
    out.sort(key=lambda row: row[1])
    return out
