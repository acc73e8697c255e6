"""Run the test server standalone until SIGINT/SIGTERM.

    python -m elysia_pipelines_tests.weaviate_server --http-port 8080 --grpc-port 50051 \
        [--backup-dir DIR] [--latency-ms N] [--fail-rate F] [--seed S] [--no-auto-schema]
        [--modules text2vec-contextionary,text2vec-openai] [--nodes N]

Prints one ready line (`READY http=<port> grpc=<port> url=<url>`) once both ports
accept connections, so a parent process can wait for it and read the ports.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m elysia_pipelines_tests.weaviate_server",
        description="In-memory Weaviate-compatible server (REST + gRPC) for tests and benchmarks.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--http-port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument("--grpc-port", type=int, default=50051, help="0 picks a free port")
    parser.add_argument(
        "--backup-dir", type=Path, default=None, help="enables the filesystem backup backend"
    )
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every request")
    parser.add_argument(
        "--fail-rate", type=float, default=0.0, help="fraction of requests answered 503/UNAVAILABLE"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for --fail-rate")
    parser.add_argument(
        "--no-auto-schema", action="store_true", help="reject objects of unknown classes"
    )
    parser.add_argument(
        "--modules",
        default="text2vec-contextionary",
        help="comma-separated vectorizer modules to enable (as ENABLE_MODULES); others are refused",
    )
    parser.add_argument(
        "--nodes", type=int, default=1, help="cluster size replication factors are checked against"
    )
    args = parser.parse_args(argv)
    if not 0.0 <= args.fail_rate <= 1.0:
        parser.error("--fail-rate must be between 0 and 1")
    if args.nodes < 1:
        parser.error("--nodes must be at least 1")
    args.modules = tuple(m.strip() for m in args.modules.split(",") if m.strip())
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Imported after the arguments are checked: weaviate-client takes seconds to import.
    from elysia_pipelines_tests.weaviate_server.server import WeaviateTestServer

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        server = WeaviateTestServer(
            host=args.host,
            http_port=args.http_port,
            grpc_port=args.grpc_port,
            backup_dir=args.backup_dir,
            latency_ms=args.latency_ms,
            fail_rate=args.fail_rate,
            seed=args.seed,
            auto_schema=not args.no_auto_schema,
            modules=args.modules,
            nodes=args.nodes,
        ).start()
    except OSError as exc:
        print(f"error: cannot start the test server: {exc}", file=sys.stderr)
        print("hint: choose free ports with --http-port/--grpc-port (0 picks any)", file=sys.stderr)
        return 2
    print(f"READY http={server.http_port} grpc={server.grpc_port} url={server.url}", flush=True)
    try:
        stop.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
