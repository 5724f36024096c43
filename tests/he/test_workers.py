"""A party's other cores: chunks come back in order, whoever computed them, and the result is the same."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np
import pytest

from fldecl.he import SecretKeyring, aggregate, seal_backend, workers


def test_spread_keeps_the_order_and_shares_the_work() -> None:
    where: list[str] = []

    def here(task: int) -> int:
        where.append("here")
        return task * task

    with ThreadPoolExecutor(max_workers=2) as pool:

        def there(task: int) -> Future[int]:
            where.append("there")
            return pool.submit(lambda: task * task)

        assert list(workers.spread(list(range(20)), here, there, 2)) == [task * task for task in range(20)]
    assert where.count("here") == 6 and where.count("there") == 14  # every third task here, with two workers


def test_spread_computes_here_what_dead_workers_could_not() -> None:
    def there(task: int) -> Future[int]:
        future: Future[int] = Future()
        future.set_exception(BrokenProcessPool("a worker died"))
        return future

    assert list(workers.spread(list(range(5)), lambda task: -task, there, 1)) == [0, -1, -2, -3, -4]


@pytest.mark.skipif(workers.cores() < 2, reason="workers start only where a party has a second core")
def test_a_large_update_is_shared_with_worker_processes(level_1_keyring: SecretKeyring, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seal_backend, "PARALLEL_VALUES", 0)  # what 10 M values would do, on a small update
    updates = np.random.default_rng(3).uniform(-1, 1, size=(2, 50_000))
    try:
        blobs = [level_1_keyring.encrypt(update, f"Party_{index}") for index, update in enumerate(updates)]
        assert workers._pool is not None  # the pool stays for the party's next rounds
        total = level_1_keyring.decrypt(aggregate(level_1_keyring.public_context(), blobs))
    finally:
        workers.shutdown()
    assert np.max(np.abs(total - updates.sum(axis=0))) <= 2 * level_1_keyring.parameters.worst_case_error
