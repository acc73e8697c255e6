"""Plain REST questions to Weaviate with the standard library: no client, no gRPC.

Status views only need "does this collection exist, how many objects": two small
HTTP calls. weaviate-client costs about a second to import and a gRPC channel to
open, which is most of what `elysiactl repo status` would otherwise take; this
module answers the same questions in milliseconds, with the same target (URL, API
key variable, module key headers) that `connection.open_client` would use.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

from elysia_pipelines.errors import ElysiaError
from elysia_pipelines.weaviate.target import WeaviateTarget


class RestError(ElysiaError):
    """Weaviate answered, or failed to answer, a REST call in a way the caller cannot use."""


def base_url(target: WeaviateTarget) -> str:
    endpoint = target.http_endpoint
    return f"{'https' if endpoint.secure else 'http'}://{endpoint.host}:{endpoint.port}"


def request(target: WeaviateTarget, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """(status, parsed JSON or None); 404 is an answer, connection failures raise RestError."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        base_url(target) + path, data=data, method=method, headers=target.rest_headers()
    )
    try:
        with urllib.request.urlopen(req, timeout=target.timeout_s) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return 404, None
        if exc.code in (401, 403):
            raise RestError(
                f"Weaviate refused the request ({exc.code})",
                f"check the API key in ${target.api_key_env or 'WEAVIATE_API_KEY'}",
            ) from None
        raise RestError(f"Weaviate answered {exc.code} to {method} {path}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RestError(
            f"cannot reach Weaviate at {base_url(target)}: {reason}",
            "check WEAVIATE_URL and that the server is running",
        ) from None


def collection_exists(target: WeaviateTarget, collection: str) -> bool:
    status, _ = request(target, "GET", f"/v1/schema/{quote(collection)}")
    return status == 200


def count(target: WeaviateTarget, collection: str) -> int:
    """Objects in the collection: the GraphQL `Aggregate ... meta { count }` the client uses."""
    query = f"{{ Aggregate {{ {collection} {{ meta {{ count }} }} }} }}"
    _, answer = request(target, "POST", "/v1/graphql", {"query": query})
    errors = (answer or {}).get("errors")
    if errors:
        raise RestError(f"counting {collection} failed: {errors[0].get('message', errors[0])}")
    try:
        return int(answer["data"]["Aggregate"][collection][0]["meta"]["count"])
    except (KeyError, IndexError, TypeError, ValueError):
        raise RestError(f"counting {collection}: unexpected answer {answer!r:.200}") from None


def collection_names(target: WeaviateTarget) -> set[str]:
    """Every collection (class) name in the schema: one call, whatever their number."""
    status, answer = request(target, "GET", "/v1/schema")
    if status != 200 or not isinstance(answer, dict):
        raise RestError(f"listing collections: unexpected answer {status} {answer!r:.200}")
    return {c["class"] for c in answer.get("classes") or [] if isinstance(c, dict) and "class" in c}


# Classes per Aggregate query: a few KB of query text, and one unknown class (dropped
# since the schema was read) only sends that chunk back to one call per class.
COUNT_CHUNK = 100


def counts(target: WeaviateTarget, collections: list[str]) -> dict[str, int]:
    """Object counts of existing collections, many per GraphQL query.

    Asking per class took two round trips per repository (exists, count), ~1.2 ms each, so
    `repo status` over 500 repositories spent 1.2 s waiting on Weaviate. A GraphQL query
    may aggregate many classes at once; an error in one (e.g. deleted meanwhile) fails
    the whole query, so that chunk falls back to `count` per class, which says which.
    """
    result: dict[str, int] = {}
    for start in range(0, len(collections), COUNT_CHUNK):
        chunk = collections[start : start + COUNT_CHUNK]
        fields = " ".join(f"{name} {{ meta {{ count }} }}" for name in chunk)
        _, answer = request(
            target, "POST", "/v1/graphql", {"query": f"{{ Aggregate {{ {fields} }} }}"}
        )
        data = (answer or {}).get("data") or {}
        aggregate = data.get("Aggregate") if isinstance(data, dict) else None
        if (answer or {}).get("errors") or not isinstance(aggregate, dict):
            result.update({name: count(target, name) for name in chunk})
            continue
        for name in chunk:
            try:
                result[name] = int(aggregate[name][0]["meta"]["count"])
            except (KeyError, IndexError, TypeError, ValueError):
                result[name] = count(target, name)
    return result
