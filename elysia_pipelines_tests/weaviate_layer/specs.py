"""Collection specs the Weaviate-layer tests share."""

from __future__ import annotations

from elysia_pipelines.documents import PropertySpec

# One property of each kind a spec can declare (text searchable, an array, a range-filtered
# number and date, a boolean, an integer array): what a description must carry over.
EVERY_KIND = (
    PropertySpec("title", "text", searchable=True),
    PropertySpec("tags", "text[]"),
    PropertySpec("score", "number", range_filters=True),
    PropertySpec("done", "boolean"),
    PropertySpec("due", "date", range_filters=True),
    PropertySpec("votes", "int[]"),
)
