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
    """A Markdown table; pipes in cells are escaped so paths cannot break the layout."""
    if not rows:
        return "_(empty)_"

    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

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


@contextmanager
def user_errors() -> Iterator[None]:
    """Show an ElysiaError as a clean failure, and do not retry it.

    Our domain code raises ElysiaError for problems retrying cannot fix (bad input,
    missing repository, corrupt change set) and has already retried the transient
    ones itself; the RetryPolicy is left for unexpected errors.
    """
    try:
        yield
    except ElysiaError as exc:
        raise dg.Failure(
            description=str(exc),
            metadata={"error": exc.message, "hint": exc.hint or ""},
            allow_retries=False,
        ) from None
