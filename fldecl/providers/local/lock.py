"""The local backend's lock: one apply (or destroy, or import) at a time per stack directory.

The local backend's state is the stack's ``.fldecl/``, so a lock there covers it. An advisory
``flock`` on ``.fldecl/lock``: the operating system releases it when the holder dies, so a killed
apply never leaves a stale lock behind and there is never one to break.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fldecl.core.errors import LockBusy, StateError
from fldecl.interrupt import pause

POLL_SECONDS = 0.2


@contextmanager
def stack_lock(state_dir: Path, operation: str, timeout: float = 0.0) -> Iterator[None]:
    path = state_dir / "lock"
    deadline = time.monotonic() + timeout
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")  # noqa: SIM115  (closed below; closing releases the lock)
    except OSError as exc:
        raise StateError(f"cannot open the stack's lock {path}: {exc.strerror or exc}") from None
    with handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockBusy(_busy_message(path, timeout)) from None
                pause(POLL_SECONDS)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "operation": operation,
                                 "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}))
        handle.flush()
        yield


def force_unlock(state_dir: Path, lock_id: str) -> str:
    """There is nothing to break: the operating system released the lock of any holder that died."""
    holder = _holder(state_dir / "lock")
    with stack_lock(state_dir, "force-unlock"):
        pass
    return (f"no lock to break: the local backend's lock is released when its holder exits "
            f"(last held by {holder.get('operation', 'no run')}, pid {holder.get('pid', '?')}); {lock_id} is not needed")


def _holder(path: Path) -> dict[str, Any]:
    try:
        holder = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _busy_message(path: Path, timeout: float) -> str:
    holder = _holder(path)
    who = f"{holder.get('operation', 'another fldecl')} (pid {holder.get('pid', '?')}, since {holder.get('since', '?')})"
    waited = f" after waiting {timeout:g}s" if timeout else ""
    return f"the stack is locked by {who}{waited}; wait for it to finish, or pass --lock-timeout SECONDS to wait"
