"""An in-process, Weaviate-compatible test server (REST + gRPC) for weaviate-client 4.x.

    with WeaviateTestServer(backup_dir=tmp) as server:
        client = weaviate.connect_to_custom(
            http_host="127.0.0.1", http_port=server.http_port, http_secure=False,
            grpc_host="127.0.0.1", grpc_port=server.grpc_port, grpc_secure=False,
        )

`start_server_process()` runs the same server in a child process (benchmarks, crash
tests); `python -m elysia_pipelines_tests.weaviate_server` runs it standalone.

Names are imported lazily: importing weaviate-client takes seconds, and the
subprocess helper and the CLI's argument checks should not pay for it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from elysia_pipelines_tests.weaviate_server.faults import OPERATIONS, FaultRule, Faults
    from elysia_pipelines_tests.weaviate_server.process import (
        ServerProcess,
        start_server_process,
    )
    from elysia_pipelines_tests.weaviate_server.server import WeaviateTestServer

_EXPORTS = {
    "OPERATIONS": "faults",
    "FaultRule": "faults",
    "Faults": "faults",
    "ServerProcess": "process",
    "start_server_process": "process",
    "WeaviateTestServer": "server",
}

__all__ = [
    "OPERATIONS",
    "FaultRule",
    "Faults",
    "ServerProcess",
    "WeaviateTestServer",
    "start_server_process",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
