"""Ctrl-C and SIGTERM: stop every wait at once, clean up, exit 128 + the signal (130 for Ctrl-C, 143 for SIGTERM).

The first signal asks every wait to stop (:mod:`fldecl.interrupt`) and raises
``KeyboardInterrupt`` in the main thread, so the stack's lock is released on the way out; a
second one during that cleanup exits at once. Terraform lets running operations finish and exits
1; fldecl stops waiting at once (what runs on a backend goes on, and the output says how to
follow or cancel it) and exits as shells expect of an interrupted command.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType
from typing import NoReturn

from fldecl import interrupt

SECOND_SIGNAL = (b"\nSecond interrupt: exiting now, without finishing the cleanup. A lock left behind is given up at once "
                 b"by the next run on this machine (and after a minute without heartbeat on any other).\n")


class Cancelled(interrupt.Interrupted):
    """Ctrl-C before anything was changed (at the approval prompt): the message says what was cancelled, and the
    exit code is an interrupt's."""


def stop_on_signals() -> None:
    """Handle SIGINT and SIGTERM as described above, from now on."""
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)


def _on_signal(number: int, frame: FrameType | None) -> None:
    if interrupt.stop_requested():
        os.write(sys.stderr.fileno(), SECOND_SIGNAL)
        os._exit(exit_code())
    interrupt.request_stop(number)
    name = "Interrupt" if number == signal.SIGINT else signal.Signals(number).name
    sys.stderr.write(f"\n{name} received: stopping every wait and releasing the stack's lock "
                     "(press Ctrl-C again to exit at once).\n")
    sys.stderr.flush()
    raise KeyboardInterrupt


def exit_code() -> int:
    """128 + the signal that stopped the run (130 for Ctrl-C)."""
    return 128 + (interrupt.stop_signal() or signal.SIGINT)


def exit_now() -> NoReturn:
    """Exit with :func:`exit_code` once the cleanup is done, without the interpreter's own teardown (with IBM's
    client loaded, its garbage collection alone takes seconds)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code())
