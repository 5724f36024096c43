"""``Training`` on the local backend: a real federated run per resource.

Creating a training writes its job (the aggregator's view plus the settings of the parties this
machine runs) into ``.fldecl/trainings/<id>/``, issues the aggregator a TLS certificate from the
stack's CA, and starts :mod:`fldecl.fl`: an aggregator process and one process per party. The
record's status follows ``status.json``; a run whose aggregator died is reported failed, so the
next plan replaces it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fldecl.core.contract import NAME_ATTRIBUTE, CreateRequest, DeleteRequest, Desired, Observed, ProviderContext, UpdateRequest
from fldecl.core.errors import ProviderError
from fldecl.fl.status import TrainingEvent, read_status
from fldecl.interrupt import Interrupted
from fldecl.kinds.training import TRAINING
from fldecl.kinds.training_run import Endpoint, LogFile, TrainingProgress, report_rounds, round_from_status
from fldecl.models import model_file_of
from fldecl.providers.local.paths import model_content_path, training_dir
from fldecl.providers.local.records import LocalRecords, with_backend_name
from fldecl.providers.processes import alive
from fldecl.providers.store import Record, ResourceStore
from fldecl.vocabulary import CANCELED, COMPLETED, FAILED, PENDING, REPLACED_STATES, RUNNING, TERMINAL_STATES

if TYPE_CHECKING:
    from fldecl.fl.training_job import TrainingJob

#: Runtime events worth a progress line in the apply output.
REPORTED_EVENTS = ("listening", "party_joined", "party_refused", "party_error", "party_lost", "keys_distributed", "round_completed",
                   "state")


class Trainings(LocalRecords):
    kind = TRAINING.name

    def create(self, request: CreateRequest, ctx: ProviderContext) -> Observed:
        desired = request.desired
        record = self.store.insert(self.kind, desired.name, desired.tags, desired.attributes, status=PENDING,
                                   entity=_entity(desired.attributes, PENDING))
        try:
            job = _job(record.id, desired, ctx)
        except ProviderError as exc:
            self.store.update(record.id, status=FAILED, entity=_entity(desired.attributes, FAILED, str(exc)))
            raise
        if not ctx.wait:
            runner = _start_in_background(job, Path(job.work_dir))
            self.store.update(record.id, status=RUNNING, entity=_entity(desired.attributes, RUNNING, runner_pid=runner))
            ctx.reporter.progress(desired.address, f"started; follow it with `fldecl logs {desired.name} --follow` "
                                                   f"(work dir {job.work_dir})")
            _announce_manual_parties(ctx, desired, job, None)
            return self.observe(self.store.get(record.id) or record, ctx)
        self.store.update(record.id, status=RUNNING, entity=_entity(desired.attributes, RUNNING, runner_pid=os.getpid()))
        from fldecl.fl.runner import run_training  # lazy: the runtime's libraries stay out of plans

        try:
            result = run_training(job, lambda event: _report(ctx, desired, job, event))
        except Interrupted:
            reason = "interrupted: fldecl stopped its aggregator and parties"
            self.store.update(record.id, status=CANCELED, entity=_entity(desired.attributes, CANCELED, reason))
            ctx.reporter.progress(desired.address, f"{reason}; nothing of it runs any more, and the next apply starts it again "
                                                   f"(its logs: `fldecl logs {desired.name}`)")
            raise
        self.store.update(record.id, status=result.state, entity=_entity(desired.attributes, result.state, result.reason))
        final = self.observe(self.store.get(record.id) or record, ctx)
        if result.state != COMPLETED:
            raise ProviderError(f"training {result.state}: {result.reason}")
        return final

    def update(self, request: UpdateRequest, ctx: ProviderContext) -> Observed:
        raise ProviderError("a training cannot change in place; it is replaced")

    def log_files(self, current: Observed, ctx: ProviderContext) -> list[LogFile]:
        """The aggregator's log, each party's that this machine ran, and a ``--no-wait`` run's own."""
        directory = training_dir(ctx.state_dir, current.id)
        logs = [LogFile("aggregator", directory / "aggregator.log")]
        logs += [LogFile(path.parent.name, path) for path in sorted((directory / "parties").glob("*/party.log"))]
        logs += [LogFile(path.parent.parent.name, path) for path in sorted((ctx.state_dir / "parties").glob(f"*/{current.id}/party.log"))]
        return logs

    def delete(self, request: DeleteRequest, ctx: ProviderContext) -> None:
        """WML's hard delete: stop the run if it is still going, then remove its files."""
        import shutil  # with signal, only for deletes: plans of this backend stay light
        import signal

        directory = training_dir(ctx.state_dir, request.current.id)
        status = read_status(directory) or {}
        pid = status.get("pid")
        if status.get("state") not in TERMINAL_STATES and alive(pid):
            os.kill(pid, signal.SIGTERM)
        shutil.rmtree(directory, ignore_errors=True)
        super().delete(request, ctx)

    def observe(self, record: Record, ctx: ProviderContext) -> Observed:
        """A training's record, with the state and rounds of its run (a run whose processes are gone has failed)."""
        directory = training_dir(ctx.state_dir, record.id)
        status = read_status(directory) or {}
        state, reason = record.status or PENDING, status.get("reason")
        if state not in TERMINAL_STATES:
            state = status.get("state", state)
            if state not in TERMINAL_STATES and not (alive(status.get("pid")) or alive(record.entity.get("runner_pid"))):
                state, reason = FAILED, "interrupted: the aggregator process is gone"
            if state in TERMINAL_STATES:
                self.store.update(record.id, status=state, entity=_entity(record.attributes, state, reason))
        plot = directory / "metrics.png"
        aggregator = status.get("aggregator")
        progress = TrainingProgress(state, reason, tuple(round_from_status(entry) for entry in status.get("rounds", [])),
                                    Endpoint(aggregator["host"], aggregator["port"]) if aggregator else None,
                                    str(directory), str(plot) if plot.is_file() else None)
        replace_reason = f"training {state}: {reason}" if state in REPLACED_STATES else None
        label = state + (f" ({status.get('rounds_completed', 0)}/{status.get('rounds_total', '?')} rounds)" if status else "")
        return record.observed(attributes=with_backend_name(record), status=label, replace_reason=replace_reason, details=progress)


def trained_model(store: ResourceStore, training_id: str, ctx: ProviderContext) -> bytes:
    """The final model as a party saved it (the aggregator never holds it in plaintext)."""
    record = store.get(training_id)
    if record is None or record.status != COMPLETED:
        raise ProviderError(f"training {training_id} has not completed; its model cannot be stored yet")
    parties = sorted((training_dir(ctx.state_dir, training_id) / "parties").glob("*/final_model.zip"))
    if not parties:
        raise ProviderError(f"training {training_id} left no final model at any party")
    return parties[0].read_bytes()


def _job(training_id: str, desired: Desired, ctx: ProviderContext) -> TrainingJob:
    """The job from this apply's records: the training's dependencies carry the model, parties and CA."""
    from fldecl.launch.job import ModelToTrain, job_parties, training_job, trusted_model  # lazy: plans only read trainings

    spec = desired.attributes
    related = {obs.id: obs for obs in desired.dependencies.values()}
    model = related[spec["model"]]
    parties, authority = job_parties(spec["remote_training"]["remote_training_systems"], related, ctx.stack_dir)
    initial = ModelToTrain(model_content_path(ctx.state_dir, model.id), model_file_of(model.attributes) or "",
                           model.attributes["type"], trusted_model(model.attributes))
    return training_job(training_id, desired.name, spec, initial, authority, parties, training_dir(ctx.state_dir, training_id))


def _report(ctx: ProviderContext, desired: Desired, job: TrainingJob, event: TrainingEvent) -> None:
    if event.kind in REPORTED_EVENTS:
        ctx.reporter.progress(desired.address, event.message)
    if event.kind == "round_completed" and event.round is not None:
        report_rounds(ctx.reporter, desired.address, event.round, job.rounds)
    elif event.kind == "state" and event.data.get("state") == RUNNING:
        report_rounds(ctx.reporter, desired.address, 0, job.rounds)
    if event.kind == "listening":  # once per run: from now on the training waits for its manual parties
        _announce_manual_parties(ctx, desired, job, f"{event.data['host']}:{event.data['port']}")


def _announce_manual_parties(ctx: ProviderContext, desired: Desired, job: TrainingJob, aggregator: str | None) -> None:
    """For each ``launch: manual`` party, the exact command that joins it, and where to run it."""
    here = {party.name for party in job.local_parties}
    for party in job.parties:
        if party["name"] in here:
            continue
        command = f"fldecl party run {party['name']} --training {desired.name}"
        command += (f" --aggregator {aggregator}" if aggregator else
                    " (from another machine add --aggregator HOST:PORT, which `fldecl show --json` gives once it listens)")
        ctx.reporter.progress(desired.address, f"waiting for {party['name']} (launch: manual); on its machine, in its copy of "
                                               f"the stack directory ({ctx.stack_dir} here), run: {command}")


def _start_in_background(job: TrainingJob, directory: Path) -> int:
    """``--no-wait``: the run goes on in its own session after the CLI exits; returns its pid."""
    import subprocess

    job_file = directory / "background-job.json"
    job.save(job_file)
    with open(directory / "background.log", "ab") as log:
        runner = subprocess.Popen([sys.executable, "-m", "fldecl.providers.local.background", str(job_file)],
                                  stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    return runner.pid


    return True


def _entity(attributes: dict[str, Any], state: str, message: str | None = None, runner_pid: int | None = None) -> dict[str, Any]:
    """The WML-shaped training entity (``federated_learning`` + ``status``), and the pid following the run."""
    status: dict[str, Any] = {"state": state}
    if message:
        status["message"] = {"level": "error" if state == FAILED else "info", "text": message}
    federated = {k: v for k, v in attributes.items() if k not in ("description", NAME_ATTRIBUTE)}
    entity: dict[str, Any] = {"name": attributes.get(NAME_ATTRIBUTE), "federated_learning": federated, "status": status}
    if runner_pid:
        entity["runner_pid"] = runner_pid
    return entity

