"""Run batch jobs on N threads while the caller keeps streaming new batches in.

The restore reads the backup on the calling thread and hands each batch to a worker.
A plain `executor.map` would read the whole backup ahead of the writers (memory grows
with the backup); here at most `max_pending` batches exist at once, so memory stays
flat whatever the backup's size, and the reader waits when the writers are slower.

Results come back on the calling thread (`on_result`), so the caller can update its
counters, checkpoint and progress bar without locks. The first exception stops the
stream: queued batches are cancelled, running ones are allowed to finish (their
results are still delivered, so a checkpoint never misses a batch that was written),
then the exception is raised.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def run_bounded(
    items: Iterable[T],
    work: Callable[[T], R],
    on_result: Callable[[T, R], None],
    *,
    workers: int,
    max_pending: int | None = None,
    thread_name: str = "restore",
) -> None:
    """Call `work(item)` on `workers` threads with at most `max_pending` items in flight."""
    workers = max(1, workers)
    limit = max(workers, max_pending or workers * 2)
    pending: dict[cf.Future[R], T] = {}
    failure: BaseException | None = None

    def collect(block: bool) -> None:
        nonlocal failure
        if not pending:
            return
        done, _ = cf.wait(
            list(pending),
            timeout=None if block else 0,
            return_when=cf.FIRST_COMPLETED,
        )
        for future in done:
            item = pending.pop(future)
            if future.cancelled():
                continue
            exc = future.exception()
            if exc is not None:
                failure = failure or exc
                continue
            if failure is None:
                on_result(item, future.result())
            else:
                # Deliver finished work even after a failure: it was written.
                # The first failure is the one worth reporting.
                with contextlib.suppress(Exception):
                    on_result(item, future.result())

    with cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix=thread_name) as pool:
        try:
            for item in items:
                while len(pending) >= limit and failure is None:
                    collect(block=True)
                if failure is not None:
                    break
                pending[pool.submit(work, item)] = item
                collect(block=False)
            if failure is not None:
                for future in pending:
                    future.cancel()
            while pending:
                collect(block=True)
        except BaseException as exc:  # reader failed or KeyboardInterrupt
            failure = failure or exc
            for future in pending:
                future.cancel()
            while pending:
                collect(block=True)
    if failure is not None:
        raise failure
