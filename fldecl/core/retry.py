"""Retrying transient failures with exponential backoff and jitter, bounded in attempts and time.

One mechanism for the whole project: the apply engine retries provider calls with it, and a
provider retries its own idempotent reads with it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from fldecl.core.errors import ProviderError, TransientError
from fldecl.interrupt import pause

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_total: float = 120.0

    def delay(self, attempt: int, hint: float | None) -> float:
        """Exponential backoff with jitter, never shorter than the server's ``Retry-After``."""
        backoff: float = min(self.max_delay, self.base_delay * 2.0 ** attempt) * random.uniform(0.5, 1.0)
        return max(backoff, hint or 0.0)


RetryNotice = Callable[[TransientError, int, float], None]
"""Told of each retry: the failure, the attempt that failed (from 1), the seconds until the next."""


def with_retries(action: Callable[[], T], policy: RetryPolicy, on_retry: RetryNotice | None = None) -> T:
    """``action()``, repeated while it raises :class:`TransientError`.

    Giving up raises a plain :class:`ProviderError`, so an outer layer does not retry again.
    """
    deadline = time.monotonic() + policy.max_total
    for attempt in range(policy.attempts):
        try:
            return action()
        except TransientError as exc:
            delay = policy.delay(attempt, exc.retry_after)
            if attempt + 1 == policy.attempts or time.monotonic() + delay > deadline:
                raise ProviderError(f"{exc} (gave up after {attempt + 1} attempts)") from exc
            if on_retry is not None:
                on_retry(exc, attempt + 1, delay)
            pause(delay)  # Ctrl-C ends a backoff at once
    raise AssertionError("unreachable")
