"""The named example queries of `col query --example`, the README and the benchmark.

A module of its own so that listing or choosing them (the CLI's help text) does not
import DuckDB and pyarrow; `analytics` runs them.
"""

from __future__ import annotations

from elysia_pipelines.errors import ElysiaError

# Named so the CLI (`col query --example NAME`), the README and the benchmark run the
# same SQL. They assume the document properties (documents.DOCUMENT_PROPERTIES).
EXAMPLE_QUERIES: dict[str, str] = {
    "largest_files_per_language": """
SELECT language, collection, path, size_bytes, line_count
FROM (
    SELECT language, collection, path, size_bytes, line_count,
           row_number() OVER (PARTITION BY language ORDER BY size_bytes DESC, path) AS rank
    FROM all_documents
)
WHERE rank <= 5
ORDER BY language, size_bytes DESC, path
""".strip(),
    "files_changed_per_day": """
SELECT CAST(synced_at AS DATE) AS day, collection,
       count(*) AS files, sum(size_bytes) AS bytes, count(DISTINCT "commit") AS commits
FROM all_documents
WHERE synced_at IS NOT NULL
GROUP BY ALL
ORDER BY day, collection
""".strip(),
    "language_mix_per_repo": """
SELECT repo, language, count(*) AS files,
       round(100.0 * count(*) / sum(count(*)) OVER (PARTITION BY repo), 1) AS pct_files,
       sum(line_count) AS lines, sum(size_bytes) AS bytes
FROM all_documents
GROUP BY repo, language
ORDER BY repo, files DESC, language
""".strip(),
}


def example_query(name: str) -> str:
    try:
        return EXAMPLE_QUERIES[name]
    except KeyError:
        raise ElysiaError(
            f"no example query named {name!r}", f"use one of: {', '.join(EXAMPLE_QUERIES)}"
        ) from None
