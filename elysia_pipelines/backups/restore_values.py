"""Value conversions between Weaviate data types, and a stable hash of an object.

Restore writes a backup into a collection whose schema may have drifted since the
backup was taken (a property became `number`, a `text` became `text[]` ...). The
conversions here are the only ones restore performs: each one either keeps the
meaning of the value or raises `ConversionError`, so a value that does not fit is
reported per object instead of being written wrong or silently dropped.

The hash (`object_fingerprint`) is what incremental restore and the round-trip check
compare: the same object must hash the same whether it comes from a Parquet file
(dates as timestamps, vectors as float32), a JSONL file (dates as text) or the
weaviate-client (dates as `datetime`, vectors as Python floats), so values are
normalised by their Weaviate data type before hashing.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from array import array
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

SCALAR_TYPES = frozenset({"text", "int", "number", "boolean", "date", "uuid"})
_TRUE_TEXT = frozenset({"true", "t", "yes", "y", "1", "on"})
_FALSE_TEXT = frozenset({"false", "f", "no", "n", "0", "off"})

# Type pairs (scalar part) that can be converted at least for some values. Everything
# else (date -> int, geoCoordinates -> text ...) is refused when the restore is planned.
_CONVERTIBLE: frozenset[tuple[str, str]] = frozenset(
    {
        ("int", "number"),
        ("number", "int"),
        ("boolean", "int"),
        ("boolean", "number"),
        ("int", "boolean"),
        ("number", "boolean"),
        ("text", "int"),
        ("text", "number"),
        ("text", "boolean"),
        ("text", "date"),
        ("text", "uuid"),
        ("int", "text"),
        ("number", "text"),
        ("boolean", "text"),
        ("date", "text"),
        ("uuid", "text"),
    }
)


class ConversionError(ValueError):
    """One value cannot be represented in the target data type."""


def is_array_type(data_type: str) -> bool:
    return data_type.endswith("[]")


def base_type(data_type: str) -> str:
    return data_type[:-2] if data_type.endswith("[]") else data_type


def can_convert(source_type: str, target_type: str) -> bool:
    """Whether any value of `source_type` could become a `target_type` value."""
    if source_type == target_type:
        return True
    src, dst = base_type(source_type), base_type(target_type)
    if src == dst:
        return src in SCALAR_TYPES  # scalar <-> array of the same scalar type
    if is_array_type(source_type) and target_type == "text":
        return src in SCALAR_TYPES  # a list becomes its JSON text
    return (src, dst) in _CONVERTIBLE


def parse_date(value: Any) -> datetime:
    """RFC 3339 text, a date, or a datetime -> an aware UTC datetime."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ConversionError(f"{value!r} is not an RFC 3339 date") from None
    else:
        raise ConversionError(f"{value!r} is not a date")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def format_date(moment: datetime) -> str:
    return parse_date(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _as_text(value: Any, source: str) -> str:
    if source == "boolean" or isinstance(value, bool):
        return "true" if value else "false"
    if source == "date" or isinstance(value, datetime | date):
        return format_date(parse_date(value))
    if source == "number" and isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 2**53 else repr(value)
    return str(value)


def _as_int(value: Any, source: str) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return int(value)
        raise ConversionError(f"{value!r} is not a whole number")
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            raise ConversionError(f"{value!r} is not a whole number") from None
        return _as_int(number, "number")
    raise ConversionError(f"{value!r} ({source}) is not a whole number")


def _as_number(value: Any, source: str) -> float:
    if isinstance(value, bool | int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ConversionError(f"{value!r} is not a number") from None
    else:
        raise ConversionError(f"{value!r} ({source}) is not a number")
    if not math.isfinite(number):
        raise ConversionError(f"{value!r} is not a finite number")
    return number


def _as_boolean(value: Any, source: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        if value in (0, 1):
            return bool(value)
        raise ConversionError(f"{value!r} is neither 0 nor 1")
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE_TEXT:
            return True
        if text in _FALSE_TEXT:
            return False
        raise ConversionError(f"{value!r} is not true/false/yes/no/1/0")
    raise ConversionError(f"{value!r} ({source}) is not a boolean")


def _as_uuid(value: Any, source: str) -> str:
    try:
        return str(uuid.UUID(str(value).strip()))
    except ValueError:
        raise ConversionError(f"{value!r} is not a UUID") from None


def _convert_scalar(value: Any, source: str, target: str) -> Any:
    if source == target:
        return value
    if target == "text":
        return _as_text(value, source)
    if target == "int":
        return _as_int(value, source)
    if target == "number":
        return _as_number(value, source)
    if target == "boolean":
        return _as_boolean(value, source)
    if target == "date":
        if source != "text" and not isinstance(value, datetime | date):
            raise ConversionError(f"{value!r} ({source}) cannot become a date")
        return parse_date(value)
    if target == "uuid":
        return _as_uuid(value, source)
    raise ConversionError(f"{source} cannot become {target}")


def _is_list(value: Any) -> bool:
    return isinstance(value, list | tuple) or (
        hasattr(value, "tolist") and not isinstance(value, str | bytes)
    )


def convert_value(value: Any, source_type: str, target_type: str) -> Any:
    """`value` (stored as `source_type`) as a `target_type` value; None stays None.

    Scalars become one-element arrays; an array becomes a scalar only when it holds
    exactly one element, or becomes its JSON text for a `text` target.
    """
    if value is None:
        return None
    if source_type == target_type:
        return value
    src, dst = base_type(source_type), base_type(target_type)
    if is_array_type(source_type):
        items = list(value.tolist() if hasattr(value, "tolist") else value)
        if is_array_type(target_type):
            return [_convert_scalar(item, src, dst) for item in items]
        if dst == "text":
            return json.dumps([_as_text(item, src) for item in items], ensure_ascii=False)
        if len(items) != 1:
            raise ConversionError(f"{len(items)} values do not fit one {dst}")
        return _convert_scalar(items[0], src, dst)
    if is_array_type(target_type):
        return [_convert_scalar(value, src, dst)]
    return _convert_scalar(value, src, dst)


# --- hashing -------------------------------------------------------------------------


def _normal_scalar(value: Any, data_type: str) -> Any:
    try:
        if data_type == "date":
            return format_date(parse_date(value))
        if data_type == "number":
            return repr(float(value))
        if data_type == "int":
            return int(value)
        if data_type == "boolean":
            return bool(value)
    except (ConversionError, TypeError, ValueError):
        return str(value)
    if isinstance(value, datetime | date):
        return format_date(parse_date(value))
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return value


def normalize_value(value: Any, data_type: str) -> Any:
    """A JSON-able value that is equal for equal Weaviate values, whatever their source."""
    if value is None:
        return None
    if is_array_type(data_type) or _is_list(value):
        items = list(value.tolist() if hasattr(value, "tolist") else value)
        if not items:
            return None  # Weaviate does not tell an empty array from a missing one
        return [_normal_scalar(item, base_type(data_type)) for item in items]
    if isinstance(value, Mapping):
        return {str(k): normalize_value(v, "") for k, v in sorted(value.items())}
    return _normal_scalar(value, data_type)


def vector_bytes(vector: Sequence[float] | Any | None) -> bytes:
    """float32 bytes: what Weaviate stores, so float64 round trips compare equal."""
    if vector is None:
        return b""
    if isinstance(vector, Mapping):
        return b"".join(
            name.encode() + b"=" + vector_bytes(vector[name]) for name in sorted(vector)
        )
    values = vector.tolist() if hasattr(vector, "tolist") else vector
    return array("f", values).tobytes()


def object_fingerprint(
    properties: Mapping[str, Any],
    vector: Sequence[float] | Any | None,
    types: Mapping[str, str],
    *,
    names: Iterable[str] | None = None,
    include_vector: bool = True,
) -> str:
    """sha256 over the normalised properties (all, or only `names`) and the vector."""
    keys = sorted(properties) if names is None else sorted(set(names))
    normal = {}
    for key in keys:
        value = normalize_value(properties.get(key), types.get(key, ""))
        if value is not None and value != "":
            normal[key] = value
    digest = hashlib.sha256(
        json.dumps(normal, sort_keys=True, ensure_ascii=False, default=str).encode()
    )
    if include_vector:
        digest.update(b"\0vector\0")
        digest.update(vector_bytes(vector))
    return digest.hexdigest()
