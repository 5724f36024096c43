"""Where the local backend keeps files beside its records, in the stack's ``.fldecl/``, and how it writes them."""

from __future__ import annotations

import os
from pathlib import Path


def model_content_path(state_dir: Path, model_id: str) -> Path:
    return state_dir / "models" / f"{model_id}.zip"


def pending_create_path(state_dir: Path, model_id: str) -> Path:
    """The note a model's create leaves until its record is in (see :mod:`fldecl.providers.local.models`)."""
    return state_dir / "models" / f"{model_id}.pending.json"


def training_dir(state_dir: Path, training_id: str) -> Path:
    return state_dir / "trainings" / training_id


def write_private(path: Path, content: bytes) -> None:
    """Write owner-only (0600), atomically: a reader sees the old content or the new, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    try:
        with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise
