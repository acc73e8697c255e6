"""Exports under Weaviate failures: a transient failure mid-export is retried.

(A crash mid-export leaving nothing behind is tested on the writer in
test_formats_roundtrip: an outage here would only add the client's own minute of
back-off to the suite.)
"""

from __future__ import annotations

from typing import Any

import pytest

from elysia_pipelines.backups.export import backup_collection
from elysia_pipelines.backups.reader import open_backup
from elysia_pipelines.settings import Settings
from elysia_pipelines.weaviate.objects import iter_objects
from elysia_pipelines_tests.backups.sources import populate

pytestmark = pytest.mark.weaviate_test_server_only

COUNT = 600


def test_transient_failures_mid_export_are_retried(
    weaviate_server: Any, weaviate_client: Any, settings: Settings
) -> None:
    populate(weaviate_client, "Docs", COUNT, dim=4)
    injected = []

    def progress(done: int, total: int | None) -> None:
        if done == 200 and not injected:
            injected.append(weaviate_server.faults.fail_next(1, "search"))

    result = backup_collection(weaviate_client, "Docs", settings, progress=progress)
    assert injected and weaviate_server.faults.injected_total() == 1
    stored = sorted(
        (o.uuid, o.properties, o.vector)
        for o in iter_objects(weaviate_client, "Docs", include_vector=True)
    )
    back = sorted(
        (o.uuid, o.properties, o.vector) for o in open_backup(result.path, settings).iter_objects()
    )
    assert back == stored and len(back) == COUNT
