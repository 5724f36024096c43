"""Trainings on the local backend: a real federated run per ``Training`` resource.

Creating a training writes its job (the aggregator's view plus the settings of the parties this
machine runs) into ``.fldecl/trainings/<id>/``, issues the aggregator a TLS certificate from the
stack's CA, and starts :mod:`fldecl.fl`: an aggregator process and one process per party. The
record's status follows ``status.json``; a run whose aggregator died is reported failed, so the
next plan replaces it.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path
from typing import Any

from fldecl.providers.base import Desired, Observed, ProviderContext, ProviderError
from fldecl.providers.local.paths import model_content_path, training_dir
from fldecl.providers.store import Record, ResourceStore

TERMINAL = ("completed", "failed", "canceled")


def create(store: ResourceStore, desired: Desired, ctx: ProviderContext) -> Observed:
    record = store.insert("Training", desired.name, desired.tags, desired.attributes, status="pending",
                          entity=_entity(desired.attributes, "pending"))
    try:
        job = _job(record.id, desired, ctx)
    except ProviderError as exc:
        store.update(record.id, status="failed", entity=_entity(desired.attributes, "failed", str(exc)))
        raise
    from fldecl.fl import run_training

    if not ctx.wait:
        runner = _start_in_background(job, Path(job.work_dir))
        store.update(record.id, status="running", entity=_entity(desired.attributes, "running", runner_pid=runner))
        ctx.reporter.progress(desired.address, f"started; follow it with `fldecl show` (work dir {job.work_dir})")
        return observe(store, store.get(record.id) or record, ctx)
    store.update(record.id, status="running", entity=_entity(desired.attributes, "running", runner_pid=os.getpid()))
    result = run_training(job, lambda event: _report(ctx, desired.address, event))
    store.update(record.id, status=result.state, entity=_entity(desired.attributes, result.state, result.reason))
    final = observe(store, store.get(record.id) or record, ctx)
    if result.state != "completed":
        raise ProviderError(f"training {result.state}: {result.reason}")
    return final


def observe(store: ResourceStore, record: Record, ctx: ProviderContext) -> Observed:
    from fldecl.fl.status import read_status

    directory = training_dir(ctx.state_dir, record.id)
    status = read_status(directory) or {}
    state, reason = record.status or "pending", status.get("reason")
    if state not in TERMINAL:
        state = status.get("state", state)
        if state not in TERMINAL and not (_alive(status.get("pid")) or _alive(record.entity.get("runner_pid"))):
            state, reason = "failed", "interrupted: the aggregator process is gone"
        if state in TERMINAL:
            store.update(record.id, status=state, entity=_entity(record.attributes, state, reason))
    details = {"rounds": status.get("rounds", []), "work_dir": str(directory), "reason": reason,
               "aggregator": status.get("aggregator")}
    plot = directory / "metrics.png"
    if plot.is_file():
        details["plot"] = str(plot)
    replace_reason = f"training {state}: {reason}" if state in ("failed", "canceled") else None
    label = state + (f" ({status.get('rounds_completed', 0)}/{status.get('rounds_total', '?')} rounds)" if status else "")
    return record.observed(status=label, replace_reason=replace_reason, details=details)


def delete(store: ResourceStore, current: Observed, ctx: ProviderContext) -> None:
    """WML's hard delete: stop the run if it is still going, then remove its files."""
    from fldecl.fl.status import read_status

    directory = training_dir(ctx.state_dir, current.id)
    status = read_status(directory) or {}
    pid = status.get("pid")
    if status.get("state") not in TERMINAL and _alive(pid):
        os.kill(pid, signal.SIGTERM)
    shutil.rmtree(directory, ignore_errors=True)


def trained_model(store: ResourceStore, training_id: str, ctx: ProviderContext) -> bytes:
    """The final model as a party saved it (the aggregator never holds it in plaintext)."""
    record = store.get(training_id)
    if record is None or record.status != "completed":
        raise ProviderError(f"training {training_id} has not completed; its model cannot be stored yet")
    parties = sorted((training_dir(ctx.state_dir, training_id) / "parties").glob("*/final_model.zip"))
    if not parties:
        raise ProviderError(f"training {training_id} left no final model at any party")
    return parties[0].read_bytes()


def _job(training_id: str, desired: Desired, ctx: ProviderContext) -> Any:
    """The job from this apply's records: the training's dependencies carry the model, parties and CA."""
    from fldecl.models import model_file_of
    from fldecl.providers.local import jobs

    spec = desired.attributes
    deps = {obs.id: obs for obs in desired.dependencies.values()}
    model = deps[spec["model"]]
    authority = next((o for o in desired.dependencies.values() if o.kind == "CertificateAuthority"), None)
    if authority is None:
        raise ProviderError(f"{desired.address}: the local backend needs the parties' CertificateAuthority in the stack")
    stack = ctx.stack_dir
    ca = jobs.Authority(stack / authority.attributes["key_file"], stack / authority.attributes["cert_file"])
    parties = []
    for item in spec["remote_training"]["remote_training_systems"]:
        rts = deps[item["name"]]
        party = rts.attributes.get("party")
        if not party:
            raise ProviderError(f"{rts.address} declares no party settings (certificate, data handler) to run it locally")
        certificate = deps[party["certificate"]].attributes
        runs_here = None if party.get("launch", "auto") == "manual" else jobs.settings_of(
            rts.name, party, certificate, ca.cert_file, stack)
        parties.append(jobs.JobParty(rts.name, bool(item.get("required")), str(stack / certificate["cert_file"]), runs_here))
    initial = jobs.ModelToTrain(model_content_path(ctx.state_dir, model.id), model_file_of(model.attributes) or "",
                                model.attributes["type"], jobs.trusted_model(model.attributes))
    return jobs.training_job(training_id, desired.name, spec, initial, ca, parties, training_dir(ctx.state_dir, training_id))


def _report(ctx: ProviderContext, address: str, event: Any) -> None:
    if event.kind in ("listening", "party_joined", "party_refused", "party_lost", "keys_distributed", "round_completed", "state"):
        ctx.reporter.progress(address, event.message)


def _start_in_background(job: Any, directory: Path) -> int:
    """``--no-wait``: the run goes on in its own session after the CLI exits; returns its pid."""
    import subprocess
    import sys

    job_file = directory / "background-job.json"
    job.save(job_file)
    with open(directory / "background.log", "ab") as log:
        runner = subprocess.Popen([sys.executable, "-m", "fldecl.providers.local.trainings", str(job_file)],
                                  stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    return runner.pid


def _run_job_file(job_file: Path) -> None:
    from fldecl.fl import TrainingJob, run_training

    run_training(TrainingJob.load(job_file))


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _entity(attributes: dict[str, Any], state: str, message: str | None = None, runner_pid: int | None = None) -> dict[str, Any]:
    """The WML-shaped training entity (``federated_learning`` + ``status``), and the pid following the run."""
    status: dict[str, Any] = {"state": state}
    if message:
        status["message"] = {"level": "error" if state == "failed" else "info", "text": message}
    federated = {k: v for k, v in attributes.items() if k not in ("description",)}
    entity: dict[str, Any] = {"federated_learning": federated, "status": status}
    if runner_pid:
        entity["runner_pid"] = runner_pid
    return entity


if __name__ == "__main__":
    import sys

    _run_job_file(Path(sys.argv[1]))
