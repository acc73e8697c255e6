"""pytest plugin for the official integration suite: every local Weaviate it asks for is ours.

The suite connects to fixed localhost ports (8080/50051 by default, others for auth,
RBAC and backup instances). Rather than editing the downloaded copy or taking those
ports on a shared machine, this rewrites each local connection to the one test
server whose ports `benchmarks/conformance.py` passes in the environment. Each
pytest-xdist worker gets a server of its own, because some modules empty the whole
server (`collections.delete_all()`) and would pull collections from under a test
running in the other worker.
"""

from __future__ import annotations

import os
from typing import Any

_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


def pytest_configure(config: Any) -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker.removeprefix("gw") or 0)
    http_ports = os.environ["CONFORMANCE_HTTP_PORT"].split(",")
    grpc_ports = os.environ["CONFORMANCE_GRPC_PORT"].split(",")
    http_port = int(http_ports[index % len(http_ports)])
    grpc_port = int(grpc_ports[index % len(grpc_ports)])

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
