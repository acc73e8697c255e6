"""WeaviateTestServer: REST + gRPC on two ports, one store, start/stop/restart.

Starting is cheap (two listening sockets and a few threads, tens of milliseconds), so
every test can have a fresh server. `restart()` rebinds the same ports, keeping or
dropping the data, to simulate a Weaviate crash and recovery under a live client.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from concurrent import futures
from pathlib import Path
from types import TracebackType

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from weaviate.proto.v1 import weaviate_pb2_grpc

from elysia_pipelines_tests.weaviate_server.addresses import ServerAddresses
from elysia_pipelines_tests.weaviate_server.backups import Backups
from elysia_pipelines_tests.weaviate_server.faults import Faults
from elysia_pipelines_tests.weaviate_server.grpc_service import FaultInterceptor, WeaviateServicer
from elysia_pipelines_tests.weaviate_server.rest import RestApi, make_http_server
from elysia_pipelines_tests.weaviate_server.store import DEFAULT_MODULES, Store

WEAVIATE_VERSION = "1.32.0"
# What real Weaviate accepts and reports as grpcMaxMessageSize (the client's default too).
MAX_MESSAGE_BYTES = 104_858_000


class WeaviateTestServer(ServerAddresses):
    """An in-memory Weaviate speaking the REST and gRPC APIs weaviate-client 4.x uses.

    `store` is for white-box assertions in the server's own tests; everything else
    should go through the client.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        http_port: int = 0,
        grpc_port: int = 0,
        backup_dir: Path | str | None = None,
        latency_ms: float = 0.0,
        fail_rate: float = 0.0,
        seed: int = 0,
        auto_schema: bool = True,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        version: str = WEAVIATE_VERSION,
        grpc_workers: int = 16,
        modules: Iterable[str] = DEFAULT_MODULES,
        nodes: int = 1,
    ) -> None:
        """`modules`: the vectorizer modules enabled (ENABLE_MODULES); a class naming any
        other is refused. Only text2vec-contextionary vectorizes; the others are accepted
        in the schema and never vectorize. `nodes`: the cluster size a replication factor
        is checked against (data is still held once)."""
        self.host = host
        self.http_port = http_port
        self.grpc_port = grpc_port
        self.version = version
        self.max_message_bytes = max_message_bytes
        if nodes < 1:
            raise ValueError(f"nodes must be at least 1, got {nodes}")
        self._cluster = (tuple(modules), nodes)
        self.store = Store(auto_schema=auto_schema, modules=modules, nodes=nodes)
        self.faults = Faults(seed=seed)
        if latency_ms:
            self.faults.latency(latency_ms)
        if fail_rate:
            self.faults.fail_rate(fail_rate)
        self.backups = Backups(Path(backup_dir) if backup_dir is not None else None)
        self.rest = RestApi(self)
        self._grpc_workers = grpc_workers
        self._http: object | None = None
        self._http_thread: threading.Thread | None = None
        self._grpc: grpc.Server | None = None
        self._lifecycle = threading.Lock()
        self._started_once = False
        self._batches: list[tuple[int, int]] = []
        self._batches_lock = threading.Lock()

    # ------------------------------------------------------------ state

    @property
    def running(self) -> bool:
        return self._http is not None

    # ------------------------------------------------------------ observations

    def _record_batch(self, objects: int, size_bytes: int) -> None:
        with self._batches_lock:
            self._batches.append((objects, size_bytes))

    @property
    def batches(self) -> list[tuple[int, int]]:
        """(objects, request bytes) of every gRPC BatchObjects call, in arrival order.

        Lets ingestion tests check that batches stay under count and size caps.
        """
        with self._batches_lock:
            return list(self._batches)

    @property
    def request_counts(self) -> dict[str, int]:
        """Requests seen per operation kind (REST and gRPC, faulted or not)."""
        return dict(self.faults.describe()["requests"])

    # ------------------------------------------------------------ lifecycle

    def start(self) -> WeaviateTestServer:
        """Listen on the configured ports (0 = pick free ones, remembered for restarts)."""
        with self._lifecycle:
            if self._http is not None:
                return self
            # A port we just released can take a moment to be bindable again.
            deadline = time.monotonic() + 5.0
            while True:
                try:
                    self._bind_and_serve()
                    self._started_once = True
                    return self
                except (OSError, RuntimeError):
                    if not self._started_once or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)

    def _bind_and_serve(self) -> None:
        http = make_http_server(self.host, self.http_port, self)
        try:
            grpc_server = self._start_grpc()
        except Exception:
            http.server_close()
            raise
        self.http_port = http.server_address[1]
        self._grpc = grpc_server
        self._http = http
        self._http_thread = threading.Thread(
            target=http.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"weaviate-test-http-{self.http_port}",
            daemon=True,
        )
        self._http_thread.start()

    def _start_grpc(self) -> grpc.Server:
        server = grpc.server(
            futures.ThreadPoolExecutor(
                max_workers=self._grpc_workers, thread_name_prefix="weaviate-test-grpc"
            ),
            interceptors=[FaultInterceptor(lambda: self.faults)],
            options=[
                ("grpc.max_receive_message_length", self.max_message_bytes),
                ("grpc.max_send_message_length", self.max_message_bytes),
                ("grpc.so_reuseport", 0),
            ],
        )
        weaviate_pb2_grpc.add_WeaviateServicer_to_server(
            WeaviateServicer(lambda: self.store, self._record_batch), server
        )
        health_servicer = health.HealthServicer()
        health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        health_servicer.set("weaviate.v1.Weaviate", health_pb2.HealthCheckResponse.SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        try:
            port = server.add_insecure_port(f"{self.host}:{self.grpc_port}")
        except RuntimeError as exc:
            raise OSError(f"could not bind gRPC port {self.host}:{self.grpc_port}: {exc}") from exc
        if port == 0:
            raise OSError(f"could not bind gRPC port {self.host}:{self.grpc_port}")
        self.grpc_port = port
        server.start()
        return server

    def stop(self) -> None:
        """Stop both listeners and cut open connections (clients see a dead server)."""
        with self._lifecycle:
            http, self._http = self._http, None
            grpc_server, self._grpc = self._grpc, None
            if http is not None:
                http.shutdown()  # type: ignore[attr-defined]
                http.close_connections()  # type: ignore[attr-defined]
                http.server_close()  # type: ignore[attr-defined]
            if self._http_thread is not None:
                self._http_thread.join(timeout=5)
                self._http_thread = None
            if grpc_server is not None:
                grpc_server.stop(grace=None).wait(timeout=5)

    def restart(self, *, keep_data: bool = True) -> WeaviateTestServer:
        """Stop and start again on the same ports; `keep_data=False` simulates data loss."""
        self.stop()
        if not keep_data:
            self.store.reset()
        return self.start()

    def outage(self, seconds: float, *, keep_data: bool = True) -> threading.Thread:
        """Go down now and come back on the same ports after `seconds`, in the background.

        For tests where a client must ride out a Weaviate restart; join the returned
        thread to wait until the server is back.
        """
        self.stop()
        if not keep_data:
            self.store.reset()
        thread = threading.Timer(seconds, self.start)
        thread.daemon = True
        thread.start()
        return thread

    def set_cluster(
        self, *, modules: Iterable[str] | None = None, nodes: int | None = None
    ) -> WeaviateTestServer:
        """Change the enabled vectorizer modules and/or the node count until `reset()`.

        For a test that needs a module or a cluster size the default server lacks
        (real Weaviate refuses a class naming a module it has not enabled).
        """
        with self.store.lock:
            if modules is not None:
                self.store.modules = frozenset(modules)
            if nodes is not None:
                if nodes < 1:
                    raise ValueError(f"nodes must be at least 1, got {nodes}")
                self.store.nodes = nodes
        return self

    def reset(self) -> None:
        """Clean state for the next test: no collections, no fault rules, auto-schema on,
        the modules and node count it was started with."""
        self.store.reset()
        self.store.auto_schema = True
        self.store.modules = frozenset(self._cluster[0])
        self.store.nodes = self._cluster[1]
        self.faults.clear()
        self.faults.reseed(0)
        self.faults.reset_stats()
        with self._batches_lock:
            self._batches.clear()

    def __enter__(self) -> WeaviateTestServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"WeaviateTestServer(url={self.url!r}, grpc={self.grpc_url!r})"
