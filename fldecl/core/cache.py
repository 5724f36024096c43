"""The stack's cache files (``.fldecl/cache/``): work that can always be done again, so writing one
never fails a command and never creates the state directory."""

from __future__ import annotations

from pathlib import Path


def write_cache(path: Path, data: bytes) -> None:
    """Replace the cache file ``path`` (``<state directory>/cache/<name>``) with ``data`` in one step, where the
    state directory exists (``validate`` in a fresh checkout leaves nothing behind); a directory that cannot
    be written keeps no cache, and its next command does the work in full."""
    if not path.parent.parent.is_dir():
        return
    try:
        path.parent.mkdir(exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(data)
        temporary.replace(path)
    except OSError:
        pass
