"""The console script's exit (`cli.main._leave`): no interpreter teardown, nothing lost.

It skips finalization with `os._exit`, so whatever finalization would have done that
anyone can see has to happen first: atexit handlers, non-daemon threads, buffered
files, the exit status.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import atexit, sys, threading, time
from pathlib import Path
from elysia_pipelines.process_exit import leave as _leave
out = Path(sys.argv[1])
atexit.register(lambda: (out / "atexit").write_text("ran"))
left_open = open(out / "buffered", "w")  # never closed or flushed by the script
left_open.write("x" * 100)
def late() -> None:
    time.sleep(0.3)
    (out / "thread").write_text("done")
threading.Thread(target=late).start()
print("to stdout", end="")
_leave(eval(sys.argv[2]))
"""


@pytest.mark.parametrize(("code", "status"), [("None", 0), ("0", 0), ("3", 3), ("'bad'", 1)])
def test_leave_keeps_what_teardown_would_do(tmp_path: Path, code: str, status: int) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), code],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == status, done.stderr
    assert done.stdout == "to stdout"
    assert (tmp_path / "atexit").read_text() == "ran"
    assert (tmp_path / "thread").read_text() == "done"
    assert (tmp_path / "buffered").read_text() == "x" * 100
    assert done.stderr == ("bad\n" if code == "'bad'" else "")
