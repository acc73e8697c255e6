"""The addresses a client connects to, for the in-process server and the child process alike.

Kept apart from both so the light `process` module does not import grpc through `server`.
"""

from __future__ import annotations


class ServerAddresses:
    """`url` (REST) and `grpc_url` (host:port) from `host`, `http_port` and `grpc_port`."""

    host: str
    http_port: int
    grpc_port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"{self.host}:{self.grpc_port}"
