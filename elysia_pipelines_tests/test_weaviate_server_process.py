"""The server as a separate process: CLI, ready line, control endpoint, kill and restart."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import weaviate
from weaviate.classes.config import Configure

from elysia_pipelines_tests.weaviate_fixtures import WeaviateEndpoint
from elysia_pipelines_tests.weaviate_server import start_server_process

pytestmark = [pytest.mark.slow, pytest.mark.weaviate_test_server_only]


def _connect(url_port: int, grpc_port: int) -> weaviate.WeaviateClient:
    return WeaviateEndpoint(
        http_host="127.0.0.1",
        http_port=url_port,
        http_secure=False,
        grpc_host="127.0.0.1",
        grpc_port=grpc_port,
        grpc_secure=False,
    ).connect()


def test_subprocess_server_serves_faults_and_survives_client_side_restarts(tmp_path: Path) -> None:
    server = start_server_process(backup_dir=tmp_path / "backups")
    try:
        assert server.url == f"http://127.0.0.1:{server.http_port}"
        client = _connect(server.http_port, server.grpc_port)
        try:
            collection = client.collections.create("Docs")
            assert collection.data.insert_many([{"n": i} for i in range(10)]).errors == {}
            described = server.faults(clear=True, fail_next=1, ops=["schema"])
            assert described["rules"][0]["count"] == 1
            with pytest.raises(weaviate.exceptions.UnexpectedStatusCodeError):
                client.collections.list_all()
            assert server.stats()["collections"] == {"Docs": 10}
            backup = client.backup.create(
                backup_id="proc", backend="filesystem", wait_for_completion=True
            )
            assert backup.collections == ["Docs"]
            server.restart(keep_data=True)
            assert len(client.collections.use("Docs")) == 10
            server.restart(keep_data=False)
            assert client.collections.list_all() == {}
        finally:
            client.close()
        assert (tmp_path / "backups" / "proc" / "backup_config.json").exists()
    finally:
        assert server.stop() == 0


def test_killed_server_loses_data_and_a_new_one_reuses_the_ports(tmp_path: Path) -> None:
    first = start_server_process()
    http_port, grpc_port = first.http_port, first.grpc_port
    client = _connect(http_port, grpc_port)
    try:
        client.collections.create("Docs").data.insert_many([{"n": 1}])
        first.kill()
        with pytest.raises(weaviate.exceptions.WeaviateConnectionError):
            client.collections.list_all()
        second = start_server_process(http_port=http_port, grpc_port=grpc_port)
        try:
            assert client.collections.list_all() == {}
        finally:
            second.stop()
    finally:
        client.close()


def test_subprocess_server_takes_modules_and_nodes_from_flags_and_control() -> None:
    with start_server_process(modules=["text2vec-openai"], nodes=2) as server:
        meta = httpx.get(f"{server.url}/v1/meta").json()
        assert set(meta["modules"]) == {"text2vec-openai"}
        client = _connect(server.http_port, server.grpc_port)
        try:
            assert len(client.cluster.nodes()) == 2
            client.collections.create(
                "Two",
                vector_config=Configure.Vectors.text2vec_openai(),
                replication_config=Configure.replication(factor=2),
            )
            config = httpx.post(f"{server.url}/__test__/config", json={"nodes": 1}).json()
            assert config["nodes"] == 1
            with pytest.raises(weaviate.exceptions.UnexpectedStatusCodeError, match="1 available"):
                client.collections.create("Again", replication_config=Configure.replication(2))
        finally:
            client.close()


def _run_server_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m elysia_pipelines_tests.weaviate_server ARGS` run to its exit."""
    return subprocess.run(
        [sys.executable, "-m", "elysia_pipelines_tests.weaviate_server", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_reports_a_busy_port_with_a_hint() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _run_server_cli("--http-port", str(port), "--grpc-port", "0")
    assert result.returncode == 2
    assert "cannot start the test server" in result.stderr
    assert "hint:" in result.stderr


def test_cli_rejects_a_fail_rate_outside_zero_to_one() -> None:
    result = _run_server_cli("--fail-rate", "2")
    assert result.returncode == 2
    assert "--fail-rate must be between 0 and 1" in result.stderr
