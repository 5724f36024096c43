"""A party's HE work spread over its cores.

SEAL's Python bindings hold the interpreter lock while they compute, so threads cannot share that
work; worker processes can. A party that encrypts or decrypts a large update starts
``cores - 1`` of them once (``spawn``: nothing of the party's own state is inherited but what it
hands over) and keeps them for its later rounds: one pool per process, for the last key it was
started with. Workers do SEAL's work on every other chunk while the party does it on the rest,
encodes every chunk and writes the blob, in order. They ignore Ctrl-C, which stops the party, and
the party stops them as it exits; if a worker dies, the party computes the rest itself. As with
any ``spawn`` start, a worker imports the party's main module: a script must keep its work under
``if __name__ == "__main__":``.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable, Hashable, Iterator, Sequence
from concurrent.futures import BrokenExecutor, Future, ProcessPoolExecutor
from typing import Any, TypeVar

Task = TypeVar("Task")
Result = TypeVar("Result")

_pool: tuple[Hashable, ProcessPoolExecutor] | None = None


def cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def pool(key: Hashable, initializer: Callable[..., None], arguments: tuple[Any, ...]) -> ProcessPoolExecutor | None:
    """The process's worker pool for ``key``, started with ``initializer(*arguments)`` in each worker; None on one core."""
    global _pool
    if cores() < 2:
        return None
    if _pool is not None and _pool[0] == key:
        return _pool[1]
    shutdown()
    executor = ProcessPoolExecutor(
        max_workers=cores() - 1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(initializer, *arguments),
    )
    _pool = (key, executor)
    return executor


def shutdown() -> None:
    """Stop the workers, if any (they are started again when needed)."""
    global _pool
    if _pool is not None:
        _pool[1].shutdown()
        _pool = None


def pids() -> list[int]:
    """The running workers' process ids, for whoever measures them."""
    return [] if _pool is None else list(getattr(_pool[1], "_processes", None) or {})


def _start_worker(initializer: Callable[..., None], *arguments: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    initializer(*arguments)


def spread(
    tasks: Sequence[Task],
    here: Callable[[Task], Result],
    there: Callable[[Task], Future[Result]] | None,
    workers: int,
) -> Iterator[Result]:
    """The results of ``tasks`` in order: every ``workers + 1``-th computed here, the others submitted ``there`` a window ahead."""
    if there is None or workers < 1:
        yield from map(here, tasks)
        return
    window = 2 * (workers + 1)
    pending: deque[Future[Result] | None] = deque()

    def schedule(index: int) -> None:
        pending.append(None if index % (workers + 1) == workers else there(tasks[index]))

    for index in range(min(window, len(tasks))):
        schedule(index)
    for index, task in enumerate(tasks):
        future = pending.popleft()
        if index + window < len(tasks):
            schedule(index + window)
        yield here(task) if future is None else _result_or(future, here, task)


def _result_or(future: Future[Result], here: Callable[[Task], Result], task: Task) -> Result:
    """A worker's result, or the task computed here if the workers died (they are started again next time)."""
    try:
        return future.result()
    except BrokenExecutor:
        shutdown()
        return here(task)
