"""pytest plugin for the official integration suite: every local Weaviate it asks for is ours.

The suite connects to fixed localhost ports (8080/50051 by default, others for auth,
RBAC and backup instances). Rather than editing the downloaded copy or taking those
ports on a shared machine, this rewrites each local connection to the one test
server whose ports `benchmarks/conformance.py` passes in the environment.
"""

from __future__ import annotations

import os
from typing import Any

_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


def pytest_configure(config: Any) -> None:
    http_port = int(os.environ["CONFORMANCE_HTTP_PORT"])
    grpc_port = int(os.environ["CONFORMANCE_GRPC_PORT"])

    from weaviate.connect.base import ConnectionParams

    original_init = ConnectionParams.__init__

    def remapped_init(self: Any, **data: Any) -> None:
        for key, port in (("http", http_port), ("grpc", grpc_port)):
            params = data.get(key)
            if isinstance(params, dict) and params.get("host") in _LOCAL_HOSTS:
                data[key] = {**params, "host": "127.0.0.1", "port": port}
            elif getattr(params, "host", None) in _LOCAL_HOSTS:
                data[key] = params.model_copy(update={"host": "127.0.0.1", "port": port})
        original_init(self, **data)

    ConnectionParams.__init__ = remapped_init  # type: ignore[method-assign]
