"""Fixtures for the wml backend: an emulator per test, its environment, and small example stacks."""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from fldecl.emulator import EmulatorServer
from tests.conftest import EXAMPLE

PARTIES = ("Party_1", "Party_2")
TRAINED_MODEL = {"apiVersion": "fldecl/v1", "kind": "Model", "metadata": {"name": "trained"},
                 "spec": {"type": "pytorch-onnx_1.12", "software_spec": {"name": "runtime-22.2-py3.10"},
                          "model_file": "pytorch_sequence.pt", "source": {"training": "aggregator_he"}}}


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorServer]:
    """An emulator on 127.0.0.1 whose trainings run from pending to completed in 1.5 s."""
    with simulating_emulator(tmp_path) as server:
        yield server


def simulating_emulator(directory: Path) -> EmulatorServer:
    """An emulator on 127.0.0.1 keeping its data under ``directory``, whose trainings run from pending to completed in 1.5 s."""
    return EmulatorServer(data_dir=directory / "emulator", port=0, simulate_trainings=True, training_seconds=1.5)


@pytest.fixture
def wml_env(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The emulator's ``WML_*`` variables, set in this process too (the client's TLS variables are restored after)."""
    return set_emulator_env(emulator, monkeypatch)


def set_emulator_env(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Set the emulator's ``WML_*`` variables in this process through ``monkeypatch``, which restores them, and return them."""
    for name in ("WML_CLIENT_VERIFY_REQUESTS", "REQUESTS_CA_BUNDLE", "WML_PASSWORD", "WML_SPACE_ID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in emulator.env().items():
        monkeypatch.setenv(name, value)
    return emulator.env()


def cli_env(environment: dict[str, str]) -> dict[str, str]:
    """The environment for ``fldecl`` in a subprocess: exactly ``environment``'s WML settings, nothing inherited."""
    inherited = {name: value for name, value in os.environ.items()
                 if not name.startswith("WML_") and name not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    return {**inherited, **environment}


@pytest.fixture
def make_stack(tmp_path: Path) -> Callable[..., Path]:
    """A copy of the example with two parties (fewer RSA keys to make), renamed so stacks do not share tags."""
    return functools.partial(example_copy, tmp_path)


def example_copy(root: Path, name: str = "mnist-fhe", trained_model: bool = False) -> Path:
    """The example under ``root/name`` with two parties, its stack named ``name``, and a Model stored from its
    training if ``trained_model``."""
    stack = root / name
    shutil.copytree(EXAMPLE, stack, ignore=shutil.ignore_patterns(".fldecl", "pki", "data"))
    for manifest in sorted(stack.glob("*.yaml")):
        documents = [_trimmed(doc, name) for doc in yaml.safe_load_all(manifest.read_text()) if _kept(doc)]
        if trained_model and manifest.name == "model.yaml":
            documents.append(TRAINED_MODEL)
        manifest.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return stack


def _kept(document: dict[str, Any]) -> bool:
    name = document["metadata"]["name"]
    return not (document["kind"] in ("RemoteTrainingSystem", "PartyCertificate") and name not in PARTIES + ("party-1", "party-2"))


def _trimmed(document: dict[str, Any], stack_name: str) -> dict[str, Any]:
    spec = document.get("spec", {})
    if document["kind"] == "Stack":
        document["metadata"]["name"] = stack_name
    elif document["kind"] == "DataSplit":
        spec["parties"] = len(PARTIES)
    elif document["kind"] == "Training":
        remote = spec["remote_training"]
        remote["remote_training_systems"] = [item for item in remote["remote_training_systems"] if item["name"] in PARTIES]
    return document


class QuietListener:
    """An apply listener that records outcomes instead of printing them."""

    def __init__(self) -> None:
        self.finished: list[tuple[tuple[str, str], str, str]] = []

    def step_started(self, step: tuple[str, str]) -> None:
        pass

    def step_retrying(self, step: tuple[str, str], message: str, attempt: int, delay: float) -> None:
        pass

    def step_finished(self, step: tuple[str, str], outcome: str, message: str, seconds: float) -> None:
        self.finished.append((step, outcome, message))
