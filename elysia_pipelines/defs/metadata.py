"""Small builders for materialization metadata shown in the Dagster UI."""

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import dagster as dg

from elysia_pipelines.errors import ElysiaError

# Who the UI names as responsible for every asset of this project.
OWNERS = ["team:data-platform"]
# Bumped when an asset's logic changes in a way that makes earlier materializations stale.
CODE_VERSION = "2"


def md_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table; pipes in cells are escaped so paths cannot break the layout, and a
    missing value reads as a dash, not Python's "None"."""
    if not rows:
        return "_(empty)_"

    def cell(value: object) -> str:
        return "-" if value is None else str(value).replace("|", "\\|").replace("\n", " ")

    lines = [
        "| " + " | ".join(headers) + " |",
        "| " + " | ".join("---" for _ in headers) + " |",
    ]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def counts_table(
    counts: Mapping[str, int], skipped: Mapping[str, int] | None = None
) -> dg.MetadataValue:
    rows = [[op, n] for op, n in sorted(counts.items())]
    rows += [[f"skip: {reason}", n] for reason, n in sorted((skipped or {}).items())]
    return dg.MetadataValue.md(md_table(["change", "files"], rows))


def is_worth_retrying(exc: BaseException) -> bool:
    """Transient failures only (timeouts, 5xx, UNAVAILABLE, dropped connections).

    Anything else (a bug, an invariant violation, a corrupt file) fails the same way
    on every attempt, so re-running it only hides the first error under two more.
    """
    from elysia_pipelines.operations.failures import classify_failure
    from elysia_pipelines.weaviate.retry import is_transient

    if isinstance(exc, ConnectionError | TimeoutError) or is_transient(exc):
        return True
    return classify_failure(str(exc)).reason in {"timeout", "network", "rate_limit"}


@contextmanager
def user_errors() -> Iterator[None]:
    """Show an ElysiaError as a clean failure; let only transient errors be retried.

    Our domain code raises ElysiaError for problems retrying cannot fix (bad input,
    missing repository, corrupt change set) and has already retried the transient
    ones itself; the asset's RetryPolicy is left for transient errors that escaped.
    """
    try:
        yield
    except ElysiaError as exc:
        raise dg.Failure(
            description=str(exc),
            metadata={
                "error": exc.message,
                "hint": exc.hint or "-",
                "kind": exc.kind.value,
                "reason": exc.reason,
            },
            allow_retries=False,
        ) from None
    except dg.Failure:
        raise
    except Exception as exc:
        if is_worth_retrying(exc):
            raise
        raise dg.Failure(
            description=f"{type(exc).__name__}: {exc}",
            metadata={"error": str(exc), "retried": "no: the failure is not transient"},
            allow_retries=False,
        ) from exc
