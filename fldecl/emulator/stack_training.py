"""A training runner that trains for real: the aggregator and every party run on this machine.

WML's documents say what to train: the model (its stored content), the hyperparameters in
``federated_learning`` and in fldecl's ``custom``, and the parties by remote training system id.
The consortium's stack directory adds what WML never holds: each party's key, certificate and data
handler, found by its RTS name, and the CA key that issues the aggregator its TLS certificate.
The job is built by the same function the local backend uses, and run by :mod:`fldecl.fl`.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fldecl.emulator.lifecycle import TrainingRun, round_metrics
from fldecl.emulator.state import Document

if TYPE_CHECKING:
    from fldecl.core.manifest import Stack
    from fldecl.fl import TrainingEvent, TrainingJob, TrainingResult
    from fldecl.providers.local.jobs import Authority, JobParty, ModelToTrain

CANCEL_POLL_SECONDS = 0.2
INITIAL_MODEL_FILE = "initial_model.zip"


class TrainingFailed(Exception):
    """The training cannot run, or ended without completing; the message becomes its failure."""


@dataclass(frozen=True)
class StackTrainingRunner:
    """``EmulatorServer(training_runner=StackTrainingRunner(stack_dir))``: trainings run with the stack's parties.

    The stack is read when each training starts, so manifests edited in between are picked up.
    Every party runs here, whatever its ``launch``: WML's aggregator is this machine's.
    """

    stack_dir: Path

    def __call__(self, run: TrainingRun) -> None:
        from fldecl.fl import run_training

        shutil.rmtree(run.work_dir, ignore_errors=True)  # a run resumed after a restart starts afresh
        rts_names = _rts_names(run)
        job = self._job(run, rts_names)
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
            raise TrainingFailed(result.reason or f"the training ended {result.state}")
        run.save_model(_final_model(result))

    def _job(self, run: TrainingRun, rts_names: Mapping[str, str]) -> TrainingJob:
        """The training's job, from its WML documents and the stack's manifests."""
        from fldecl.core import schema
        from fldecl.providers.local.jobs import training_job
        from fldecl.providers.wml.mapping import training_attributes

        stack = _load_stack(self.stack_dir)
        spec = schema.with_defaults("Training", training_attributes(run.training))
        parties, authority = _parties(stack, spec, rts_names)
        model = _initial_model(stack, run, spec["model"])
        return training_job(run.training_id, run.training["metadata"].get("name") or run.training_id, spec, model,
                            authority, parties, run.work_dir)


def _load_stack(stack_dir: Path) -> Stack:
    from fldecl.core.diagnostics import StackInvalid
    from fldecl.core.manifest import load_stack

    try:
        return load_stack(stack_dir)
    except StackInvalid as exc:
        problems = "; ".join(diagnostic.render(stack_dir) for diagnostic in exc.diagnostics.errors)
        raise TrainingFailed(f"the stack in {stack_dir} is invalid: {problems}") from None


def _parties(stack: Stack, spec: Mapping[str, Any], rts_names: Mapping[str, str]) -> tuple[list[JobParty], Authority]:
    """Each party's settings, found in the stack by its RTS name, and the one CA that issued them all."""
    from fldecl.providers.base import ProviderError
    from fldecl.providers.local.jobs import Authority, JobParty, declared, party_authority, party_settings

    parties, authorities = [], {}
    for item in spec["remote_training"]["remote_training_systems"]:
        rts_name = rts_names[item["name"]]
        try:
            rts = declared(stack, f"RemoteTrainingSystem/{rts_name}")
            settings = party_settings(stack, rts)
            authority = party_authority(stack, rts)
        except ProviderError as exc:
            raise TrainingFailed(f"cannot run the party {rts_name}: {exc}") from None
        authorities[authority.address] = Authority(stack.directory / authority.spec["key_file"],
                                                   stack.directory / authority.spec["cert_file"])
        parties.append(JobParty(rts_name, bool(item["required"]), settings.cert_file, settings))
    if len(authorities) != 1:
        raise TrainingFailed(f"the parties' certificates must come from one CertificateAuthority, not {sorted(authorities)}")
    return parties, next(iter(authorities.values()))


def _rts_names(run: TrainingRun) -> dict[str, str]:
    """RTS id -> name for the training's parties: WML refers to them by id, the stack by name."""
    remote = run.training["entity"].get("federated_learning", {}).get("remote_training", {})
    names = {}
    for item in remote.get("remote_training_systems", []):
        document = run.read_resource("remote_training_system", item["id"])
        if document is None:
            raise TrainingFailed(f"the remote training system {item['id']} does not exist")
        names[item["id"]] = document["metadata"].get("name") or item["id"]
    return names


def _initial_model(stack: Stack, run: TrainingRun, model_id: str) -> ModelToTrain:
    """The stored model content, written where the runtime reads it."""
    from fldecl.models import model_file_of
    from fldecl.providers.local.jobs import ModelToTrain
    from fldecl.providers.wml.mapping import model_attributes

    document = run.read_resource("model", model_id)
    content = run.read_content(model_id)
    if document is None or content is None:
        raise TrainingFailed(f"the model {model_id} does not exist or has no content")
    run.work_dir.mkdir(parents=True, exist_ok=True)
    zip_file = run.work_dir / INITIAL_MODEL_FILE
    zip_file.write_bytes(content)
    attributes = model_attributes(document)
    return ModelToTrain(zip_file, model_file_of(attributes) or "", attributes["type"], _trusted(stack, document, content))


def _trusted(stack: Stack, document: Document, content: bytes) -> bool:
    """Unpickling runs code, so stored content is loaded only if it is exactly what the stack's Model of
    that name builds, and that Model would be trusted on the local backend."""
    from fldecl.models import ModelError, build_zip
    from fldecl.providers.local.jobs import trusted_model

    declaration = stack.declarations.get(f"Model/{document['metadata'].get('name')}")
    if declaration is None or not trusted_model(declaration.spec):
        return False
    try:
        return build_zip(declaration.spec, stack.directory) == content
    except ModelError:
        return False


def _record_round(run: TrainingRun, job: TrainingJob, party_ids: Mapping[str, str], event: TrainingEvent) -> None:
    """A completed round's metric, as the fused model scored at each party, into the training's status."""
    from fldecl.fl import read_status

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
    from fldecl.fl import read_status

    while not finished.wait(CANCEL_POLL_SECONDS):
        if not cancelled.is_set():
            continue
        pid = (read_status(work_dir) or {}).get("pid")
        if isinstance(pid, int):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


def _final_model(result: TrainingResult) -> bytes:
    """A party's decrypted final model (the aggregator never holds one in plaintext)."""
    if not result.final_models:
        raise TrainingFailed("the training completed but no party left a final model")
    return result.final_models[min(result.final_models)].read_bytes()
