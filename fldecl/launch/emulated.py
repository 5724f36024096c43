"""Trainings of the WML emulator run for real on this machine: its aggregator and the stack's parties.

``fldecl emulator serve --stack DIR`` plugs :class:`StackTrainingRunner` into the emulator. WML's
documents, read as the emulator reads them, say what to train: the stored model, the
hyperparameters in ``federated_learning`` and the parties by remote training system id. The
consortium's stack adds what WML never holds: each party's key, certificate and data handler,
found by its RTS name, the CA key that issues the aggregator its TLS certificate, and the local
training's batch size and seed. The job is built by :mod:`fldecl.launch.job`, as the local
backend builds its own, and run by :mod:`fldecl.fl`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fldecl.core import schema
from fldecl.core.attributes import declared_by_backend_name
from fldecl.core.errors import StackInvalid
from fldecl.core.stack import Stack
from fldecl.emulator import FederatedTraining, StoredModel, TrainingRun, round_metrics
from fldecl.fl import TrainingEvent, TrainingJob, TrainingResult, read_status, run_training
from fldecl.kinds import load_stack
from fldecl.launch.errors import LaunchError
from fldecl.launch.job import ModelToTrain, job_parties, training_job, trusted_model
from fldecl.launch.parties import declared_resources
from fldecl.models.artifacts import build_zip
from fldecl.models.errors import ModelError
from fldecl.models.spec import model_file_of

CANCEL_POLL_SECONDS = 0.2
INITIAL_MODEL_FILE = "initial_model.zip"
#: What a training's local steps take from the stack's Training of the same name: WML has no field for them.
LOCAL_SETTINGS = ("batch_size", "seed")


@dataclass(frozen=True)
class StackTrainingRunner:
    """``EmulatorServer(training_runner=StackTrainingRunner(stack_dir))``: trainings run with the stack's parties.

    The stack is read when each training starts, so manifests edited in between are picked up.
    Every party runs here, whatever its ``launch``: WML's aggregator is this machine's.
    """

    stack_dir: Path

    def __call__(self, run: TrainingRun) -> None:
        shutil.rmtree(run.work_dir, ignore_errors=True)  # a run resumed after a restart starts afresh
        federated = FederatedTraining.of(run.training)
        rts_names = _rts_names(run, federated)
        job = _job(run, federated, _load_stack(self.stack_dir), rts_names)
        party_ids = {name: rts_id for rts_id, name in rts_names.items()}
        finished = threading.Event()
        watcher = threading.Thread(target=_stop_when_cancelled, args=(run.cancelled, finished, run.work_dir),
                                   name=f"emulator-cancel-{run.training_id[:8]}", daemon=True)
        watcher.start()
        try:
            result = run_training(job, lambda event: _record_round(run, job, party_ids, event))
        finally:
            finished.set()
        if run.cancelled.is_set():
            return
        if result.state != "completed":
            raise LaunchError(result.reason or f"the training ended {result.state}")
        run.save_model(_final_model(result))


def _job(run: TrainingRun, federated: FederatedTraining, stack: Stack, rts_names: Mapping[str, str]) -> TrainingJob:
    """The training's job, from its WML documents and the stack's manifests."""
    name = run.training["metadata"].get("name") or run.training_id
    declared = declared_by_backend_name(stack, "Training", name)
    listed = [{"name": _rts_address(stack, rts_names[party.id]), "required": party.required} for party in federated.parties]
    spec = schema.with_defaults("Training", _training_spec(federated, listed, declared.spec if declared else {}))
    parties, authority = job_parties(listed, declared_resources(stack), stack.directory, every_party_here=True)
    return training_job(run.training_id, name, spec, _initial_model(stack, run, federated), authority, parties, run.work_dir)


def _training_spec(federated: FederatedTraining, listed: list[dict[str, Any]], declared: Mapping[str, Any]) -> dict[str, Any]:
    """A Training spec from what WML holds; the schema's defaults fill in what it left out."""
    held = {"fusion_type": federated.fusion_type, "model": federated.model_id, "epochs": federated.epochs,
            "rounds": federated.rounds, "metrics": federated.metrics, "optimizer": federated.optimizer, "loss": federated.loss,
            "crypto": {"cipher_spec": federated.cipher_spec} if federated.cipher_spec else None,
            **{key: declared.get(key) for key in LOCAL_SETTINGS}}
    remote = {"quorum": federated.quorum, "max_timeout": federated.max_timeout, "remote_training_systems": listed}
    spec = {key: value for key, value in held.items() if value is not None}
    spec["remote_training"] = {key: value for key, value in remote.items() if value is not None}
    return spec


def _load_stack(stack_dir: Path) -> Stack:
    try:
        return load_stack(stack_dir)
    except StackInvalid as exc:
        problems = "; ".join(diagnostic.render(stack_dir) for diagnostic in exc.diagnostics.errors)
        raise LaunchError(f"the stack in {stack_dir} is invalid: {problems}") from None


def _rts_names(run: TrainingRun, federated: FederatedTraining) -> dict[str, str]:
    """RTS id -> name for the training's parties: WML refers to them by id, the stack by name."""
    names = {}
    for party_id in federated.party_ids:
        document = run.read_resource("remote_training_system", party_id)
        if document is None:
            raise LaunchError(f"the remote training system {party_id} does not exist")
        names[party_id] = document["metadata"].get("name") or party_id
    return names


def _rts_address(stack: Stack, name: str) -> str:
    """The stack's address of the party WML names ``name`` (a name no declaration has is looked up as is, and reported missing)."""
    declared = declared_by_backend_name(stack, "RemoteTrainingSystem", name)
    return declared.address if declared else f"RemoteTrainingSystem/{name}"


def _initial_model(stack: Stack, run: TrainingRun, federated: FederatedTraining) -> ModelToTrain:
    """The stored model content, written where the runtime reads it."""
    document = run.read_resource("model", federated.model_id or "")
    content = run.read_content(federated.model_id or "")
    if document is None or content is None:
        raise LaunchError(f"the model {federated.model_id} does not exist or has no content")
    run.work_dir.mkdir(parents=True, exist_ok=True)
    zip_file = run.work_dir / INITIAL_MODEL_FILE
    zip_file.write_bytes(content)
    stored = StoredModel.of(document)
    model_type = stored.type or ""
    model_file = model_file_of({"type": model_type, "model_file": federated.model_file}) or ""
    return ModelToTrain(zip_file, model_file, model_type, _trusted(stack, stored, content))


def _trusted(stack: Stack, stored: StoredModel, content: bytes) -> bool:
    """Unpickling runs code, so stored content is loaded only if it is exactly what the stack's Model of
    that name builds, and that Model would be trusted on the local backend."""
    declaration = declared_by_backend_name(stack, "Model", stored.name or "")
    if declaration is None or not trusted_model(declaration.spec):
        return False
    try:
        return build_zip(declaration.spec, stack.directory) == content
    except ModelError:
        return False


def _record_round(run: TrainingRun, job: TrainingJob, party_ids: Mapping[str, str], event: TrainingEvent) -> None:
    """A completed round's metric, as the fused model scored at each party, into the training's status."""
    if event.kind != "round_completed":
        return
    rounds = (read_status(Path(job.work_dir)) or {}).get("rounds", [])
    record = next((entry for entry in rounds if entry["round"] == event.round), None)
    if record is None:
        return
    key = f"fused_{job.metrics}"
    values = {party_ids.get(name, name): party[key] for name, party in record["parties"].items() if key in party}
    run.record_round(round_metrics(event.round, job.metrics, values))


def _stop_when_cancelled(cancelled: threading.Event, finished: threading.Event, work_dir: Path) -> None:
    """On cancel, stop the aggregator as a delete stops a local run; the runtime then stops the parties."""
    while not finished.wait(CANCEL_POLL_SECONDS):
        if not cancelled.is_set():
            continue
        pid = (read_status(work_dir) or {}).get("pid")
        if isinstance(pid, int):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)


def _final_model(result: TrainingResult) -> bytes:
    """A party's decrypted final model (the aggregator never holds one in plaintext)."""
    if not result.final_models:
        raise LaunchError("the training completed but no party left a final model")
    return Path(result.final_models[min(result.final_models)]).read_bytes()
