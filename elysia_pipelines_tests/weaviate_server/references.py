"""Cross-references: beacons, reference properties and their validation.

Weaviate stores a reference property as a list of beacons
(`weaviate://localhost/<Class>/<uuid>`); a beacon without a class is completed from
the property's only target class (`autodetectToClass`), and a write that names an
object which does not exist is refused (`ValidateExistence`), so a test that links
to a missing object fails here as it would against a real node. Messages follow
`usecases/objects/validation` and `entities/schema/crossref` of Weaviate 1.32.
"""

from __future__ import annotations

import uuid as uuid_lib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from elysia_pipelines_tests.weaviate_server.schema import SchemaError

BEACON_PREFIX = "weaviate://localhost/"


@dataclass(frozen=True, slots=True)
class Ref:
    """A parsed beacon: the target class ('' when the beacon names none) and its uuid."""

    class_name: str
    uuid: str

    @property
    def beacon(self) -> str:
        if self.class_name:
            return f"{BEACON_PREFIX}{self.class_name}/{self.uuid}"
        return f"{BEACON_PREFIX}{self.uuid}"


def is_reference(prop: dict[str, Any]) -> bool:
    """Reference properties name classes (capitalised) where primitives are lowercase."""
    data_type = prop.get("dataType") or [""]
    return bool(data_type[0][:1].isupper())


def parse_beacon(beacon: Any) -> Ref:
    """crossref.Parse: `weaviate://localhost/[<Class>/]<uuid>`."""
    if not isinstance(beacon, str):
        raise SchemaError(f"beacon property is not a string: {type(beacon).__name__}")
    parts = urlsplit(beacon)
    if not parts.path:
        raise SchemaError("invalid reference: invalid cref URI: <nil>")
    if parts.scheme != "weaviate" or parts.netloc != "localhost":
        raise SchemaError("unrecognized cross-ref ref format")
    segments = parts.path.split("/")
    if len(segments) == 3:
        class_name, target, index = segments[1], segments[2], 2
    elif len(segments) == 2:
        class_name, target, index = "", segments[1], 1
    else:
        raise SchemaError(
            "invalid reference: invalid cref URI: path must be of format '<class>/<uuid>', "
            f"but got '{parts.path}'"
        )
    try:
        canonical = str(uuid_lib.UUID(target))
    except ValueError:
        raise SchemaError(
            f"invalid reference: invalid cref URI: {index}nd path segment must be uuid, "
            f"but got '{target}'"
        ) from None
    return Ref(class_name[:1].upper() + class_name[1:], canonical)


def complete_target(prop: dict[str, Any], ref: Ref) -> Ref:
    """autodetectToClass: a classless beacon on a single-target property gets that class."""
    if ref.class_name or len(prop["dataType"]) != 1:
        return ref
    return Ref(prop["dataType"][0], ref.uuid)


Exists = Callable[[Ref], bool]


def coerce_references(
    class_name: str, prop: dict[str, Any], value: Any, exists: Exists | None
) -> list[dict[str, str]]:
    """A reference property's value as stored: beacons with their class filled in.

    `exists` (None: skip the check) answers whether a target object is stored; a beacon
    to a missing object is an error as in Weaviate's `parseAndValidateSingleRef`.
    """
    name = prop["name"]
    if isinstance(value, dict):
        raise SchemaError(f"invalid cref: reference must be an array, but got a map: {value!r}")
    if not isinstance(value, list):
        raise SchemaError(f"invalid cref: invalid ref type. Needs to be []map, got {value!r}")
    out: list[dict[str, str]] = []
    for item in value:
        if not isinstance(item, dict):
            raise SchemaError(
                f"invalid cref: multiple references in {class_name}.{name} should be a list "
                f"of maps, but we got: {type(item).__name__}"
            )
        fields = {k: v for k, v in item.items() if k != "href"}
        if len(fields) != 1:
            raise SchemaError(
                "invalid cref: only direct references supported at the moment, concept "
                f"references not supported yet: class '{class_name}' with property '{name}' "
                f"requires exactly 1 arguments: 'beacon'. Check your input schema, got: {fields!r}"
            )
        if "beacon" not in fields:
            raise SchemaError(
                "invalid cref: only direct references supported at the moment, concept "
                f"references not supported yet:  class '{class_name}' with property '{name}' "
                "requires exactly 1 argument: 'beacon' is missing, check your input schema"
            )
        ref = complete_target(prop, parse_beacon(fields["beacon"]))
        if exists is not None and not exists(ref):
            raise SchemaError(
                f"invalid cref: 'cref' {class_name}:{name}: no object with id {ref.uuid} found"
            )
        out.append({"beacon": ref.beacon})
    return out


def rest_references(value: list[dict[str, str]]) -> list[dict[str, str]]:
    """REST answers carry an `href` next to each beacon."""
    out = []
    for item in value:
        ref = parse_beacon(item["beacon"])
        path = f"{ref.class_name}/{ref.uuid}" if ref.class_name else ref.uuid
        out.append({"beacon": item["beacon"], "href": f"/v1/objects/{path}"})
    return out
