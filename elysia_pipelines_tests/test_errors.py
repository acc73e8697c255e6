"""Error kinds are decided where errors are raised and survive the trip into Dagster."""

from __future__ import annotations

import dagster as dg
import pytest

from elysia_pipelines.defs.metadata import user_errors
from elysia_pipelines.errors import (
    ConfigError,
    ElysiaError,
    ErrorKind,
    NotFoundError,
    PermanentError,
    RateLimitedError,
    TransientError,
    error_kind,
)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (ElysiaError("bad option"), ErrorKind.USER_FIXABLE),
        (ConfigError("bad setting"), ErrorKind.USER_FIXABLE),
        (NotFoundError("no such repository"), ErrorKind.USER_FIXABLE),
        (TransientError("timed out"), ErrorKind.TRANSIENT),
        (RateLimitedError("429"), ErrorKind.RATE_LIMITED),
        (PermanentError("corrupt"), ErrorKind.PERMANENT),
    ],
)
def test_each_error_type_names_its_kind(error: ElysiaError, kind: ErrorKind) -> None:
    assert error_kind(error) is kind


def test_foreign_exceptions_have_no_kind() -> None:
    assert error_kind(ValueError("x")) is None


def test_failure_metadata_carries_the_kind() -> None:
    with pytest.raises(dg.Failure) as info, user_errors():
        raise TransientError("fetching x timed out after 5 s", "retry later")
    metadata = info.value.metadata
    assert metadata["kind"].value == "transient"
    assert metadata["error"].value == "fetching x timed out after 5 s"
    assert not info.value.allow_retries


def test_split_hint_takes_back_what_str_joined() -> None:
    from elysia_pipelines.errors import ElysiaError, split_hint

    assert split_hint(str(ElysiaError("it broke", "fix it"))) == ("it broke", "fix it")
    assert split_hint("plain text") == ("plain text", None)
    joined = "\n".join([str(ElysiaError("a", "h1")), str(ElysiaError("b", "h2")), "c"])
    assert split_hint(joined) == ("a\nb\nc", "h1; h2")
