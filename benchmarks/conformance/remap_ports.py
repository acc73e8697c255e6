"""pytest plugin for the official integration suite: every local Weaviate it asks for is ours.

The suite connects to fixed localhost ports (8080/50051 by default, others for the
modules, cluster, auth, RBAC and backup instances of its CI). Rather than editing the
downloaded copy or taking those ports on a shared machine, this rewrites each local
connection to a test server that `benchmarks/conformance.py` started:
`CONFORMANCE_PORTS` maps "8086,50057"-style port groups (and "default") to one
(http, grpc) pair per pytest-xdist worker. Each worker gets servers of its own, because
some modules empty the whole server (`collections.delete_all()`) and would pull
collections from under a test running in another worker.
"""

from __future__ import annotations

import json
import os
from typing import Any

_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


def pytest_configure(config: Any) -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker.removeprefix("gw") or 0)
    groups: dict[str, list[list[int]]] = json.loads(os.environ["CONFORMANCE_PORTS"])
    by_port: dict[int, list[list[int]]] = {}
    for key, servers in groups.items():
        if key != "default":
            for port in key.split(","):
                by_port[int(port)] = servers

    def target(port: Any) -> tuple[int, int]:
        servers = by_port.get(int(port or 0), groups["default"])
        http, grpc = servers[index % len(servers)]
        return int(http), int(grpc)

    from weaviate.connect.base import ConnectionParams

    original_init = ConnectionParams.__init__

    def remapped_init(self: Any, **data: Any) -> None:
        # The http port picks the server for both halves of the connection.
        http_params = data.get("http")
        wanted = (
            http_params.get("port")
            if isinstance(http_params, dict)
            else getattr(http_params, "port", None)
        )
        ports = dict(zip(("http", "grpc"), target(wanted), strict=True))
        for key in ("http", "grpc"):
            params = data.get(key)
            if isinstance(params, dict) and params.get("host") in _LOCAL_HOSTS:
                data[key] = {**params, "host": "127.0.0.1", "port": ports[key]}
            elif getattr(params, "host", None) in _LOCAL_HOSTS:
                data[key] = params.model_copy(update={"host": "127.0.0.1", "port": ports[key]})
        original_init(self, **data)

    ConnectionParams.__init__ = remapped_init  # type: ignore[method-assign]
