"""Where the local backend keeps files beside its records, in the stack's ``.fldecl/``, and how it writes them."""

from __future__ import annotations

from pathlib import Path


def model_content_path(state_dir: Path, model_id: str) -> Path:
    return state_dir / "models" / f"{model_id}.zip"


def pending_create_path(state_dir: Path, model_id: str) -> Path:
    """The note a model's create leaves until its record is in (see :mod:`fldecl.providers.local.models`)."""
    return state_dir / "models" / f"{model_id}.pending.json"


def training_dir(state_dir: Path, training_id: str) -> Path:
    return state_dir / "trainings" / training_id
