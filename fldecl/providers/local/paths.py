"""Where the local backend keeps files beside its records, in the stack's ``.fldecl/``."""

from __future__ import annotations

from pathlib import Path


def model_content_path(state_dir: Path, model_id: str) -> Path:
    return state_dir / "models" / f"{model_id}.zip"


def training_dir(state_dir: Path, training_id: str) -> Path:
    return state_dir / "trainings" / training_id
