from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from elysia_pipelines.errors import ConfigError
from elysia_pipelines.schedules import parse_schedule

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "interval"),
    [("15m", 15), ("30 minutes", 30), ("1h", 60), ("6h", 360), ("1d", 1440)],
)
def test_intervals(text: str, interval: int) -> None:
    sched = parse_schedule(text)
    assert sched.interval == timedelta(minutes=interval)
    assert sched.is_due(None, NOW)
    assert not sched.is_due(NOW - timedelta(minutes=interval - 1), NOW)
    assert sched.is_due(NOW - timedelta(minutes=interval), NOW)


def test_cron_and_manual() -> None:
    cron = parse_schedule("0 */2 * * *")
    assert cron.next_due(datetime(2026, 3, 1, 10, 30, tzinfo=UTC), NOW) == datetime(
        2026, 3, 1, 12, 0, tzinfo=UTC
    )
    assert cron.slot(NOW) == "20260301T1200"
    manual = parse_schedule("manual")
    assert manual.manual and not manual.is_due(None, NOW) and manual.next_due(None, NOW) is None


@pytest.mark.parametrize("text", ["", "soon", "1m", "* * *", "99 99 * * *", "15 parsecs"])
def test_bad_schedules_say_what_is_allowed(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_schedule(text)
    assert info.value.hint


def test_freshness_counts_missed_intervals_and_cron_ticks() -> None:
    from elysia_pipelines.schedules import freshness

    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    added = now - timedelta(days=30)
    half_hour = parse_schedule("30m")
    # Due 30 min after the last sync; behind = time past due, in intervals.
    for minutes, behind, fresh in ((10, 0.0, True), (90, 2.0, True), (100, 7 / 3, False)):
        state = freshness(half_hour, now - timedelta(minutes=minutes), added, now)
        assert (round(state.intervals_behind, 3), state.fresh) == (round(behind, 3), fresh)
    hourly_cron = parse_schedule("0 * * * *")
    # Synced 10:30: 11:00 was due, 12:00 passed too: one tick behind.
    assert freshness(hourly_cron, now - timedelta(minutes=90), added, now).intervals_behind == 1
    late = freshness(hourly_cron, now - timedelta(minutes=190), added, now)
    assert late.intervals_behind == 3 and not late.fresh
    # Never synced: counted from when it was added (a first sync that keeps failing).
    never = freshness(half_hour, None, now - timedelta(minutes=70), now)
    assert not never.fresh and never.since == now - timedelta(minutes=70)
    # Manual and paused repositories are not expected to keep up.
    assert freshness(parse_schedule("manual"), None, added, now).fresh
    assert freshness(half_hour, now - timedelta(days=3), added, now, paused=True).fresh
