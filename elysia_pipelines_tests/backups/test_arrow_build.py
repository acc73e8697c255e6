"""arrow_build lays out the same arrays as `pa.array`, nulls included, without pandas."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest

from elysia_pipelines.backups.arrow_build import build_array, float32_vectors

WHEN = datetime(2024, 1, 20, 12, 30, 1, 123456, tzinfo=UTC)
CASES: list[tuple[pa.DataType, list[Any]]] = [
    (pa.string(), ["a", None, "", "ünïcödé ✓", "x" * 70_000]),
    (pa.int64(), [1, None, -(2**63), 2**63 - 1, 0]),
    (pa.float64(), [1.5, None, 2, -0.0, 1e300]),
    (pa.bool_(), [True, False, None, True, False, True, True, False, True]),
    (pa.timestamp("us", tz="UTC"), [WHEN, None, datetime(1969, 12, 31, tzinfo=UTC)]),
    (pa.list_(pa.string()), [["a", "b"], None, [], ["c", None]]),
    (pa.list_(pa.int64()), [[1, 2], [], None, [3]]),
    (pa.list_(pa.timestamp("us", tz="UTC")), [[WHEN], None]),
    (pa.list_(pa.bool_()), [[True, False], [None], None]),
    (pa.string(), []),
]


@pytest.mark.parametrize(("arrow_type", "values"), CASES, ids=lambda c: str(c)[:20])
def test_same_as_pa_array(arrow_type: pa.DataType, values: list[Any]) -> None:
    built = build_array(values, arrow_type)
    built.validate(full=True)
    assert built.equals(pa.array(values, type=arrow_type))


@pytest.mark.parametrize(
    ("arrow_type", "value"),
    [(pa.int64(), "seven"), (pa.int64(), 2**64), (pa.float64(), "x"), (pa.bool_(), 1)],
)
def test_values_that_do_not_fit_raise(arrow_type: pa.DataType, value: Any) -> None:
    with pytest.raises((TypeError, ValueError, OverflowError)):
        build_array([value], arrow_type)


def test_vectors_with_nulls() -> None:
    rows = [[0.5, 1.0, -2.0], None, [3.0, 4.0, 5.0]]
    built = float32_vectors(rows, 3)
    built.validate(full=True)
    assert built.equals(pa.array(rows, type=pa.list_(pa.float32(), 3)))


def test_writing_parquet_does_not_import_pandas(tmp_path: Any) -> None:
    """The reason this module exists: pandas stays out of a Parquet-writing process."""
    code = (
        "import sys\n"
        "from elysia_pipelines.backups.formats import BackupObject, ParquetPartWriter, "
        "arrow_schema, property_types\n"
        "d = {'name': 'D', 'properties': [{'name': 'path', 'data_type': 'text'},"
        " {'name': 'n', 'data_type': 'int'}]}\n"
        f"w = ParquetPartWriter({str(tmp_path / 'p.parquet')!r}, 'p.parquet', "
        "arrow_schema(d, {'default': 2}), property_types(d), 'zstd', 3)\n"
        "w.write([BackupObject('u1', {'path': 'a', 'n': 1}, [0.1, 0.2])])\n"
        "w.close()\n"
        "assert 'pandas' not in sys.modules, 'pandas was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
