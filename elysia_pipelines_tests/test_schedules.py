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
