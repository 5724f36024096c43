"""Session-wide PKI, data and models for the FL runtime tests (RSA 4096 keys are slow to make)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from fldecl.fl.training_job import TrainingJob

from .flstack import Stack, build_job, create_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Stack:
    return create_stack(tmp_path_factory.mktemp("stack"))


@pytest.fixture
def make_job(stack: Stack, tmp_path: Path) -> Callable[..., TrainingJob]:
    """Build a job whose work directory is this test's; keyword arguments override fields."""
    return lambda **options: build_job(stack, tmp_path / "work", **options)
