"""The stack lock: one apply (or destroy, or import) at a time per stack directory.

An advisory ``flock`` on ``.fldecl/lock``: the operating system releases it when the holder dies,
so a killed apply never leaves a stale lock behind.
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

from fldecl.core.errors import LockBusy


@contextmanager
def stack_lock(state_dir: Path, operation: str, timeout: float = 0.0) -> Iterator[None]:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "lock"
    deadline = time.monotonic() + timeout
    with open(path, "a+") as handle:  # closing the file releases the lock
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockBusy(_busy_message(path, timeout)) from None
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "operation": operation,
                                 "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}))
        handle.flush()
        yield


def _busy_message(path: Path, timeout: float) -> str:
    try:
        holder = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        holder = {}
    who = f"{holder.get('operation', 'another fldecl')} (pid {holder.get('pid', '?')}, since {holder.get('since', '?')})"
    waited = f" after waiting {timeout:g}s" if timeout else ""
    return f"the stack is locked by {who}{waited}; wait for it to finish, or pass --lock-timeout SECONDS to wait"
