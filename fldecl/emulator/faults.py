"""Fault injection and request statistics, so clients can prove their retry logic.

The real client never retries 429/5xx itself (it raises ``ApiRequestFailure`` at once), so
fldecl's own backoff is what these knobs exercise. Decisions come from one seedable RNG, which
makes a faulty run reproducible for a given request order.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from fldecl.emulator.routing import ApiError

DEFAULT_ERROR_MIX = {500: 1.0, 503: 1.0, 429: 1.0}


@dataclass(frozen=True)
class FaultConfig:
    """``error_rate`` and ``drop_rate`` are fractions of non-control requests; ``error_mix``
    weighs the statuses an injected error takes; ``retry_after_seconds`` goes on 429s."""

    latency_ms: int = 0
    error_rate: float = 0.0
    error_mix: dict[int, float] = field(default_factory=lambda: dict(DEFAULT_ERROR_MIX))
    drop_rate: float = 0.0
    retry_after_seconds: int = 1
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.latency_ms < 0:
            raise ValueError("latency_ms must not be negative")
        if not (0.0 <= self.error_rate <= 1.0 and 0.0 <= self.drop_rate <= 1.0):
            raise ValueError("error_rate and drop_rate must be between 0 and 1")
        if not self.error_mix or any(status < 400 or weight < 0 for status, weight in self.error_mix.items()):
            raise ValueError("error_mix needs at least one HTTP error status with a non-negative weight")

    @classmethod
    def from_json(cls, payload: dict[str, Any], base: FaultConfig) -> FaultConfig:
        """Merge a control-endpoint body over ``base``; unknown keys are refused, not ignored."""
        known = {item.name for item in fields(cls)}
        unknown = set(payload) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        merged = asdict(base) | payload
        merged["error_mix"] = {int(status): float(weight) for status, weight in merged["error_mix"].items()}
        return cls(**merged)

    def to_json(self) -> dict[str, Any]:
        settings = asdict(self)
        settings["error_mix"] = {str(status): weight for status, weight in self.error_mix.items()}
        return settings


@dataclass(frozen=True)
class Fault:
    """What to do to one request: wait, then maybe drop it or answer it with an error."""

    delay_seconds: float = 0.0
    drop: bool = False
    error: ApiError | None = None


class FaultInjector:
    def __init__(self, config: FaultConfig) -> None:
        self._lock = threading.Lock()
        self.configure(config)

    @property
    def config(self) -> FaultConfig:
        return self._config

    def configure(self, config: FaultConfig) -> None:
        with self._lock:
            self._config = config
            self._random = random.Random(config.seed)

    def decide(self) -> Fault:
        with self._lock:
            config, rng = self._config, self._random
            if rng.random() < config.drop_rate:
                return Fault(config.latency_ms / 1000, drop=True)
            if rng.random() >= config.error_rate:
                return Fault(config.latency_ms / 1000)
            statuses = list(config.error_mix)
            status = rng.choices(statuses, weights=[config.error_mix[s] for s in statuses])[0]
        return Fault(config.latency_ms / 1000, error=_injected_error(status, config.retry_after_seconds))


def _injected_error(status: int, retry_after_seconds: int) -> ApiError:
    if status == 429:
        return ApiError(429, "too_many_requests", "Rate limit exceeded (injected by the emulator).",
                        {"Retry-After": str(retry_after_seconds)})
    return ApiError(status, "injected_fault", f"Injected failure with status {status}.")


class RequestStats:
    """Requests counted by ``"METHOD /route/{template}"`` and the faults that hit them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()

    def count(self, route_key: str) -> None:
        with self._lock:
            self._requests[route_key] += 1

    def count_fault(self, fault: Fault) -> None:
        label = "dropped" if fault.drop else str(fault.error.status) if fault.error else None
        if label:
            with self._lock:
                self._faults[label] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"total": sum(self._requests.values()), "requests": dict(self._requests),
                    "faults": dict(self._faults)}

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._faults.clear()
