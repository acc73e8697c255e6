"""Run the `real_weaviate` contract tests against the test server in a separate process.

    .venv/bin/python -m elysia_pipelines_tests.weaviate_server.contract [pytest args]

The contract tests normally reach an in-process server; pointed at a process through
WEAVIATE_URL (as they would be at a real Weaviate) they prove that the server behaves
the same over real sockets, with nothing shared but the wire. Tests that need the
in-process server (faults, white-box state) skip themselves, as against a real Weaviate.
Exit status: pytest's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    from elysia_pipelines_tests.weaviate_server.process import start_server_process

    extra = list(sys.argv[1:] if argv is None else argv)
    with (
        tempfile.TemporaryDirectory() as tmp,
        start_server_process(backup_dir=Path(tmp) / "backups") as server,
    ):
        env = {
            **os.environ,
            "WEAVIATE_URL": server.url,
            "WEAVIATE_GRPC_URL": server.grpc_url,
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p
            ),
        }
        env.pop("WEAVIATE_API_KEY", None)
        print(f"==> real_weaviate contract tests against {server.url} (a separate process)")
        command = [sys.executable, "-m", "pytest", "-m", "real_weaviate", "-n", "0", *extra]
        return subprocess.run(command, cwd=REPO, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
