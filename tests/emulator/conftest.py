"""Fixtures: emulators on free ports and a plain HTTPS session that trusts them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from fldecl.emulator import EmulatorServer

from .helpers import session_for


@pytest.fixture
def start_emulator(tmp_path: Path) -> Iterator[Callable[..., EmulatorServer]]:
    """Start emulators (data in the test's tmp dir, simulated trainings on a manual clock unless told); all stop afterwards."""
    started: list[EmulatorServer] = []

    def start(**options: Any) -> EmulatorServer:
        options.setdefault("data_dir", tmp_path / "emulator")
        options.setdefault("simulate_trainings", True)
        options.setdefault("training_seconds", None)
        emulator = EmulatorServer(port=0, **options).start()
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


@pytest.fixture
def emulator(start_emulator: Callable[..., EmulatorServer]) -> EmulatorServer:
    return start_emulator()


@pytest.fixture
def http(emulator: EmulatorServer) -> Iterator[requests.Session]:
    """A session that trusts the emulator's CA and carries a valid bearer token."""
    with session_for(emulator) as session:
        yield session
