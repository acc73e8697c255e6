"""Arrow arrays from Python values, built from buffers: no pandas import.

`pa.array(list)` asks pyarrow's pandas shim whether the list is "array-like", and the
shim imports pandas to answer - 0.3 CPU-seconds and ~50 MB RSS in every process that
writes a Parquet backup, for a library it never uses. The backup's columns are plain
(strings, int64, float64, bool, timestamps, lists of those, fixed-size float32
vectors), so this module lays out their buffers itself (validity bitmap, offsets,
values; Arrow's columnar format) with the standard library's `array`. Other types
(geo-coordinate structs) still go through `pa.array`.

elysia_pipelines_tests/backups/test_arrow_build.py checks every type against
`pa.array` on the same values, nulls included.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def _bitmap(flags: Sequence[bool]) -> bytes:
    """LSB-first validity/boolean bitmap, as Arrow stores it."""
    out = bytearray((len(flags) + 7) // 8)
    for i, flag in enumerate(flags):
        if flag:
            out[i >> 3] |= 1 << (i & 7)
    return bytes(out)


def _validity(values: Sequence[Any]) -> tuple[Any, int]:
    """(validity buffer or None, null count)."""
    import pyarrow as pa

    valid = [v is not None for v in values]
    nulls = len(valid) - sum(valid)
    return (pa.py_buffer(_bitmap(valid)) if nulls else None), nulls


def _offsets(lengths: Sequence[int]) -> Any:
    import pyarrow as pa

    offsets = array("i", [0])
    offsets.extend(accumulate(lengths))
    return pa.py_buffer(offsets)


def build_array(values: Sequence[Any], arrow_type: pa.DataType) -> pa.Array:
    """`values` (None = null) as an Arrow array of `arrow_type`.

    Raises TypeError/ValueError/OverflowError on a value that does not fit the type,
    like `pa.array` does.
    """
    import pyarrow as pa

    n = len(values)
    types = pa.types
    if types.is_string(arrow_type):
        encoded = [b"" if v is None else v.encode("utf-8") for v in values]
        validity, nulls = _validity(values)
        data = pa.py_buffer(b"".join(encoded))
        return pa.Array.from_buffers(
            arrow_type, n, [validity, _offsets([len(e) for e in encoded]), data], nulls
        )
    if types.is_int64(arrow_type) or types.is_float64(arrow_type):
        code, zero = ("q", 0) if types.is_int64(arrow_type) else ("d", 0.0)
        validity, nulls = _validity(values)
        data = array(code, [zero if v is None else v for v in values])
        return pa.Array.from_buffers(arrow_type, n, [validity, pa.py_buffer(data)], nulls)
    if types.is_boolean(arrow_type):
        if any(v is not None and not isinstance(v, bool) for v in values):
            raise TypeError("a non-boolean value in a boolean column")
        validity, nulls = _validity(values)
        data = pa.py_buffer(_bitmap([bool(v) for v in values]))
        return pa.Array.from_buffers(arrow_type, n, [validity, data], nulls)
    if types.is_timestamp(arrow_type) and arrow_type.unit == "us":
        micros = [0 if v is None else (v - _EPOCH) // _US for v in values]
        validity, nulls = _validity(values)
        return pa.Array.from_buffers(
            arrow_type, n, [validity, pa.py_buffer(array("q", micros))], nulls
        )
    if types.is_list(arrow_type) and not types.is_struct(arrow_type.value_type):
        validity, nulls = _validity(values)
        lists = [() if v is None else v for v in values]
        child = build_array([x for v in lists for x in v], arrow_type.value_type)
        return pa.Array.from_buffers(
            arrow_type, n, [validity, _offsets([len(v) for v in lists])], nulls, children=[child]
        )
    return pa.array(values, type=arrow_type)


def float32_vectors(rows: Sequence[Sequence[float] | None], dim: int) -> pa.Array:
    """Fixed-size float32 lists (None = null vector); every row has `dim` values."""
    import pyarrow as pa

    flat = array("f")
    for row in rows:
        if row is None:
            flat.extend([0.0] * dim)
        else:
            flat.extend(row)
    validity, nulls = _validity(rows)
    values = pa.Array.from_buffers(pa.float32(), len(rows) * dim, [None, pa.py_buffer(flat)], 0)
    return pa.Array.from_buffers(
        pa.list_(pa.float32(), dim), len(rows), [validity], nulls, children=[values]
    )
