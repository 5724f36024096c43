"""Processes on this machine, as the providers see them: a recorded pid still running, or gone."""

from __future__ import annotations

import os
from typing import Any, TypeGuard


def alive(pid: Any) -> TypeGuard[int]:
    """Whether ``pid`` is a process running on this machine (one owned by another user counts)."""
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
