"""Stopping a run at once: Ctrl-C (SIGINT) or SIGTERM ends every wait of the process.

The CLI turns the signal into one process-wide event (:func:`request_stop`); every wait that
may last (a training followed to its end, a lock held by another run, a retry's backoff) sleeps
on it with :func:`pause`, which raises :class:`Interrupted` as soon as the event is set, in the
main thread and in the apply's worker threads alike. What a wait leaves running elsewhere (a
training on WML) is for the code that waited to say when it sees :class:`Interrupted`.
"""

from __future__ import annotations

import threading

from fldecl.errors import RuntimeFailure

_stop = threading.Event()
_signal: list[int] = []


class Interrupted(RuntimeFailure):
    """The user (or CI) asked the run to stop; raised out of the wait it interrupted. Not an error to print: the CLI
    exits 130 (143 for SIGTERM) once the cleanup is done."""

    def __init__(self, message: str = "interrupted") -> None:
        super().__init__(message)


def request_stop(signal_number: int = 0) -> None:
    """Stop every wait from now on; ``signal_number`` is remembered for the exit status."""
    _signal.append(signal_number)
    _stop.set()


def stop_requested() -> bool:
    return _stop.is_set()


def stop_signal() -> int | None:
    """The signal that asked to stop first, if any."""
    return _signal[0] if _signal else None


def pause(seconds: float) -> None:
    """Sleep ``seconds``, or raise :class:`Interrupted` at once if a stop is (or gets) requested."""
    if _stop.wait(max(seconds, 0.0)):
        raise Interrupted()


def check() -> None:
    """Raise :class:`Interrupted` if a stop was requested (before starting something new)."""
    if _stop.is_set():
        raise Interrupted()
