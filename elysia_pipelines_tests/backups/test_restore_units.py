"""Restore building blocks that need no server: conversions, planning, state files, workers."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from elysia_pipelines.backups.restore_migration import parse_property_map, plan_migration
from elysia_pipelines.backups.restore_state import (
    DeadLetter,
    DeadLetterFile,
    RestoreCheckpoint,
    state_name,
)
from elysia_pipelines.backups.restore_values import (
    ConversionError,
    can_convert,
    convert_value,
    object_fingerprint,
)
from elysia_pipelines.backups.restore_workers import run_bounded
from elysia_pipelines.errors import ElysiaError


def _desc(**types: str) -> dict[str, Any]:
    return {
        "format": 1,
        "name": "Src",
        "properties": [{"name": name, "data_type": t} for name, t in types.items()],
    }


# --------------------------------------------------------------------- conversions


@pytest.mark.parametrize(
    ("value", "source", "target", "expected"),
    [
        (3, "int", "number", 3.0),
        (4.0, "number", "int", 4),
        ("42", "text", "int", 42),
        (" 7.0 ", "text", "int", 7),
        ("2.5", "text", "number", 2.5),
        ("yes", "text", "boolean", True),
        ("False", "text", "boolean", False),
        (True, "boolean", "text", "true"),
        (12, "int", "text", "12"),
        (2.0, "number", "text", "2"),
        (1, "int", "boolean", True),
        ("abc", "text", "text[]", ["abc"]),
        (5, "int", "number[]", [5.0]),
        ([1, 2], "int[]", "number[]", [1.0, 2.0]),
        (["9"], "text[]", "int", 9),
        (["a", "b"], "text[]", "text", '["a", "b"]'),
        (None, "text", "int", None),
    ],
)
def test_convert_value(value: Any, source: str, target: str, expected: Any) -> None:
    result = convert_value(value, source, target)
    assert result == expected
    assert type(result) is type(expected)


def test_dates_convert_both_ways() -> None:
    moment = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    assert convert_value("2024-05-01T12:30:00Z", "text", "date") == moment
    assert convert_value("2024-05-01", "text", "date") == datetime(2024, 5, 1, tzinfo=UTC)
    assert convert_value(moment, "date", "text") == "2024-05-01T12:30:00.000000Z"


@pytest.mark.parametrize(
    ("value", "source", "target"),
    [
        (2.5, "number", "int"),
        ("forty", "text", "int"),
        ("1.5e", "text", "number"),
        ("maybe", "text", "boolean"),
        ("yesterday", "text", "date"),
        (3, "int", "boolean"),
        ([1, 2], "int[]", "int"),
        ("nan", "text", "number"),
    ],
)
def test_values_that_do_not_convert_raise(value: Any, source: str, target: str) -> None:
    with pytest.raises(ConversionError):
        convert_value(value, source, target)


def test_type_level_possibility() -> None:
    assert can_convert("int", "number")
    assert can_convert("text", "date")
    assert can_convert("date", "text")
    assert can_convert("int", "int[]")
    assert not can_convert("date", "int")
    assert not can_convert("geoCoordinates", "text")
    assert not can_convert("boolean", "date")


def test_fingerprint_equal_across_representations() -> None:
    types = {"n": "number", "d": "date", "i": "int", "t": "text[]"}
    from_client = {"n": 2.0, "d": datetime(2024, 1, 1, tzinfo=UTC), "i": 3, "t": ["a"]}
    from_json = {"n": 2, "d": "2024-01-01T00:00:00Z", "i": 3.0, "t": ("a",), "x": None}
    assert object_fingerprint(from_client, [0.1, 0.2], types) == object_fingerprint(
        from_json, (0.1, 0.2), types
    )
    assert object_fingerprint(from_client, [0.1, 0.2], types) != object_fingerprint(
        from_client, [0.1, 0.3], types
    )
    assert object_fingerprint({**from_client, "i": 4}, None, types) != object_fingerprint(
        from_client, None, types
    )


# ------------------------------------------------------------------------- planning


def test_plan_creates_missing_collection_with_renames() -> None:
    plan = plan_migration(
        _desc(title="text", size="int"),
        None,
        target_collection="Dst",
        property_map={"title": "heading"},
    )
    assert plan.create_collection
    assert [p["name"] for p in plan.create_description["properties"]] == ["heading", "size"]
    assert plan.create_description["name"] == "Dst"
    assert plan.apply({"title": "x", "size": 3}) == ({"heading": "x", "size": 3}, [])


def test_plan_converts_adds_and_reports_bad_values() -> None:
    plan = plan_migration(
        _desc(size="int", score="number", label="text", extra="text"),
        _desc(size="number", score="int", label="int"),
        target_collection="Dst",
    )
    by_source = {p.source: p for p in plan.properties}
    assert by_source["size"].converts and by_source["score"].converts
    assert by_source["extra"].added and not by_source["extra"].converts
    props, problems = plan.apply({"size": 3, "score": 2.0, "label": "12", "extra": "e"})
    assert props == {"size": 3.0, "score": 2, "label": 12, "extra": "e"}
    assert problems == []
    _, problems = plan.apply({"size": 3, "score": 2.5, "label": "twelve"})
    assert sorted(p["property"] for p in problems) == ["label", "score"]


def test_plan_refuses_impossible_type_change_and_unknown_names() -> None:
    with pytest.raises(ElysiaError, match="synced_at"):
        plan_migration(_desc(synced_at="date"), _desc(synced_at="int"), target_collection="Dst")
    with pytest.raises(ElysiaError, match="'nope'"):
        plan_migration(_desc(a="text"), None, target_collection="D", property_map={"nope": "x"})
    with pytest.raises(ElysiaError, match="both write"):
        plan_migration(
            _desc(a="text", b="text"), None, target_collection="D", property_map={"a": "b"}
        )
    with pytest.raises(ElysiaError, match="'zzz'"):
        plan_migration(_desc(a="text"), None, target_collection="D", properties=["zzz"])


def test_plan_selects_properties_by_old_or_new_name() -> None:
    plan = plan_migration(
        _desc(a="text", b="int", c="text"),
        None,
        target_collection="D",
        property_map={"a": "alpha"},
        properties=["alpha", "b"],
    )
    assert [(p.source, p.target) for p in plan.properties] == [("a", "alpha"), ("b", "b")]


@pytest.mark.parametrize("bad", ["noequals", "=x", "a=", "a=1bad", "a=b-c"])
def test_parse_property_map_rejects_malformed(bad: str) -> None:
    with pytest.raises(ElysiaError):
        parse_property_map([bad])


def test_parse_property_map() -> None:
    assert parse_property_map(["a=b", "c=d,e=f"]) == {"a": "b", "c": "d", "e": "f"}


# ------------------------------------------------------------------------ state files


def test_checkpoint_round_trip_and_option_guard(tmp_path: Path) -> None:
    path = tmp_path / f"{state_name('docs-20240101T000000Z-abcd', 'Docs@host-1')}.json"
    checkpoint = RestoreCheckpoint(path, "fp1")
    for batch in (0, 1, 2, 5, 7, 6):
        checkpoint.mark_done(batch)
    loaded = RestoreCheckpoint.load(path, "fp1")
    assert loaded is not None
    assert [b for b in range(9) if loaded.is_done(b)] == [0, 1, 2, 5, 6, 7]
    assert '"done": [[0, 2], [5, 7]]' in path.read_text()
    with pytest.raises(ElysiaError, match="different options"):
        RestoreCheckpoint.load(path, "fp2")
    assert RestoreCheckpoint.load(tmp_path / "absent.json", "fp1") is None


def test_dead_letter_file_keeps_only_new_failures(tmp_path: Path) -> None:
    dead = DeadLetterFile(tmp_path / "dl.jsonl")
    dead.append([DeadLetter("u1", "write", "boom"), DeadLetter("u2", "convert", "bad")])
    offset = dead.size()
    with open(dead.path, "a", encoding="utf-8") as handle:
        handle.write('{"uuid": "torn')  # a crash mid-line must not break reading
    offset_after_torn = dead.size()
    assert dead.uuids(end=offset) == ["u1", "u2"]
    dead.append([DeadLetter("u2", "write", "again")])
    assert dead.keep_from(offset_after_torn) == 1
    assert [e["uuid"] for e in dead.read()] == ["u2"]
    assert dead.keep_from(dead.size()) == 0
    assert not dead.exists()


# ---------------------------------------------------------------------------- workers


def test_run_bounded_limits_in_flight_items_and_delivers_all() -> None:
    produced = 0
    in_flight_max = 0
    in_flight = 0
    lock = threading.Lock()
    results: list[int] = []

    def items():  # type: ignore[no-untyped-def]
        nonlocal produced
        for i in range(40):
            produced += 1
            yield i

    def work(i: int) -> int:
        nonlocal in_flight, in_flight_max
        with lock:
            in_flight += 1
            in_flight_max = max(in_flight_max, in_flight)
        time.sleep(0.002)
        with lock:
            in_flight -= 1
        return i * 2

    def on_result(item: int, result: int) -> None:
        # The reader may never be more than max_pending items ahead of delivery.
        assert produced - len(results) <= 6 + 1
        results.append(result)

    run_bounded(items(), work, on_result, workers=3, max_pending=6)
    assert sorted(results) == [i * 2 for i in range(40)]
    assert in_flight_max <= 3


def test_run_bounded_stops_on_first_failure_and_reports_finished_work() -> None:
    delivered: list[int] = []

    def work(i: int) -> int:
        if i == 5:
            raise RuntimeError("batch 5 failed")
        return i

    with pytest.raises(RuntimeError, match="batch 5"):
        run_bounded(range(1000), work, lambda _i, r: delivered.append(r), workers=2)
    assert 5 not in delivered
    assert len(delivered) < 100  # the stream stopped soon after the failure
