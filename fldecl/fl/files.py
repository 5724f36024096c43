"""Atomic JSON files: ``status.json`` is read by another process while it is being rewritten."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_json_atomically(path: Path, value: Any) -> None:
    """Write ``value`` so a concurrent reader sees the old file or the new one, never half of one."""
    write_bytes_atomically(Path(path), json.dumps(value, indent=2, sort_keys=True).encode())


def write_bytes_atomically(path: Path, data: bytes) -> None:
    import tempfile  # only writers need it; plans read status files

    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> Any | None:
    """The file's JSON, or None while it does not exist yet."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None
