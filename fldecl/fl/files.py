"""Atomic JSON files: ``status.json`` is read by another process while it is being rewritten."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fldecl.atomic_write import write_atomically as write_bytes_atomically


def write_json_atomically(path: Path, value: Any) -> None:
    """Write ``value`` so a concurrent reader sees the old file or the new one, never half of one."""
    write_bytes_atomically(Path(path), json.dumps(value, indent=2, sort_keys=True).encode(), durable=False)


def read_json(path: Path) -> Any | None:
    """The file's JSON, or None while it does not exist yet."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None
