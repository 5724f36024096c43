"""``Training`` on NVFlare: an NVFlare job running fldecl's round workflow, owned by its ``custom_props`` tag.

Read: one ``list_jobs(detailed=True)``, keeping the jobs whose ``custom_props`` carry the stack's
tag. Create: the job folder (:mod:`.jobs`), submitted with its retry-safe token, then followed to
its end (unless ``--no-wait``) through the Controller's ``status.json`` in the server's run
directory, whose events become progress lines. Delete: abort, then delete. A job without the tag
is never read, changed or deleted.
"""

from __future__ import annotations

import contextlib
import math
import shutil
from pathlib import Path
from typing import Any

from fldecl.core.contract import CreateRequest, DeleteRequest, Desired, Observed, ProviderContext, ReadRequest, UpdateRequest
from fldecl.core.errors import ProviderError
from fldecl.fl.party_tasks import FINAL_MODEL_FILE
from fldecl.fl.status import read_status
from fldecl.interrupt import Interrupted, pause
from fldecl.kinds.training import TRAINING
from fldecl.kinds.training_run import TrainingProgress, progress_of, round_from_status
from fldecl.launch.job import trusted_model
from fldecl.launch.parties import party_identity
from fldecl.models import model_file_of
from fldecl.providers.nvflare import jobs
from fldecl.providers.nvflare.resources import NvflareResources
from fldecl.vocabulary import COMPLETED, REPLACED_STATES, TERMINAL_STATES

STATUS_DIR = "fldecl"
_POLL_SECONDS = 2.0
#: Controller events worth a progress line in the apply output.
REPORTED_EVENTS = ("party_joined", "party_refused", "party_error", "party_lost", "keys_distributed", "round_completed", "state")

class Trainings(NvflareResources):
    kind = TRAINING.name

    def read(self, request: ReadRequest, ctx: ProviderContext) -> list[Observed]:
        if not self.deployment.admin_kit.is_dir():
            return []  # no server was ever provisioned for this stack: it owns no job
        if self.deployment.server_stopped():  # this machine's server does not run (a reboot): the jobs as last read
            return [self._observe(None, record.entity) for record in self.store.list(self.kind, request.tag)]
        with self.deployment.session() as session:
            owned = jobs.owned_jobs(session, request.tag)
            observed = [self._observe(session, job) for job in owned]
        self._remember(owned, request.tag)
        return observed

    def create(self, request: CreateRequest, ctx: ProviderContext) -> Observed:
        desired = request.desired
        folder = self._write_job(desired, ctx)
        with self.deployment.session() as session:
            job_id = jobs.submit(session, folder, ctx.owner_tag, desired.name)
            ctx.reporter.progress(desired.address, f"submitted as NVFlare job {job_id}")
            if ctx.wait:
                self._follow(session, job_id, desired, ctx)
            observed = self._observe(session, session.get_job_meta(job_id))
        progress = progress_of(observed)
        if ctx.wait and progress is not None and progress.state != COMPLETED:
            raise ProviderError(f"training {progress.state}: {progress.reason}")
        return observed

    def update(self, request: UpdateRequest, ctx: ProviderContext) -> Observed:
        raise ProviderError("a training cannot change in place; it is replaced")

    def delete(self, request: DeleteRequest, ctx: ProviderContext) -> None:
        with self.deployment.session() as session:
            jobs.abort_and_delete(session, request.current.id)
        self.store.delete(request.current.id)
        shutil.rmtree(self.deployment.root / "results" / request.current.id, ignore_errors=True)

    def _remember(self, owned: list[dict[str, Any]], tag: str) -> None:
        """Keep the stack's jobs as the server listed them, for a plan made while this machine's server does not run."""
        recorded = {record.id: record for record in self.store.list(self.kind, tag)}
        for job in owned:
            job_id, props = str(job.get("job_id")), jobs.ownership(job) or {}
            record = recorded.pop(job_id, None)
            if record is None:
                self.store.insert(self.kind, str(props.get("name")), list(props.get("tags") or []), dict(props.get("attributes") or {}),
                                  entity=job, record_id=job_id)
            elif record.entity != job:
                self.store.update(job_id, entity=job)
        for gone in recorded:
            self.store.delete(gone)

    def trained_model(self, training_id: str) -> bytes:
        """The final model of a completed job, as a party on this machine saved it in its site's run directory
        (the server never holds it in plaintext)."""
        with self.deployment.session() as session:
            try:
                job = session.get_job_meta(training_id)
            except Exception as exc:  # NVFlare says "not found" in its own ways
                raise ProviderError(f"NVFlare job {training_id} cannot be read: {exc}") from exc
            progress = progress_of(self._observe(session, job))
        if progress is None or progress.state != COMPLETED:
            raise ProviderError(f"training {training_id} has not completed; its model cannot be stored yet")
        saved = sorted(self.deployment.kits.glob(f"*/{training_id}/{STATUS_DIR}/parties/*/{FINAL_MODEL_FILE}"))
        if not saved:
            raise ProviderError(f"training {training_id} left its final model at its parties' NVFlare sites, none of which runs on "
                                "this machine: store a party's copy as a Model with source: zip_file")
        return saved[0].read_bytes()

    # ---------------------------------------------------------------------------------------------------------------------

    def _write_job(self, desired: Desired, ctx: ProviderContext) -> Path:
        spec = desired.attributes
        related = {obs.id: obs for obs in desired.dependencies.values()}
        parties = []
        for item in spec["remote_training"]["remote_training_systems"]:
            rts = related.get(item["name"])
            if rts is None or not rts.document.get("site"):
                raise ProviderError(f"the remote training system {item['name']} is not an NVFlare site of this stack")
            certificate = party_identity(rts, related).cert_file(ctx.stack_dir).read_text()
            parties.append(jobs.JobParty(rts.name, str(rts.document["site"]), bool(item.get("required")), certificate))
        model = related[spec["model"]]
        training = {
            "name": desired.name, "spec": spec, "model_file": model_file_of(model.attributes) or "",
            "model_type": model.attributes["type"], "trusted": trusted_model(model.attributes),
            "quorum_size": max(1, math.ceil(spec["remote_training"]["quorum"] * len(parties) - 1e-9)),
        }
        folder = self.deployment.root / "jobs" / _job_name(ctx.stack_name, desired.name)
        return jobs.write_job(folder, _job_name(ctx.stack_name, desired.name), training, parties,
                              self.model_content(model.id).read_bytes(), desired.tags, desired.name, spec)

    def _follow(self, session: Any, job_id: str, desired: Desired, ctx: ProviderContext) -> None:
        """Relay the Controller's events until NVFlare says the job finished; Ctrl-C stops following at once, and the
        line says that the job goes on and how to cancel it."""
        try:
            self._relay_events(session, job_id, desired, ctx)
        except Interrupted:
            ctx.reporter.progress(desired.address, f"stopped following it; the NVFlare job {job_id} goes on on its server. "
                                                   f"Follow it with `fldecl show`, or cancel it with "
                                                   f"`fldecl destroy --target {desired.address}`")
            raise

    def _relay_events(self, session: Any, job_id: str, desired: Desired, ctx: ProviderContext) -> None:
        seen = 0
        while True:
            status = read_status(self.live_status_dir(job_id)) or {}
            events = status.get("events", [])
            for event in events[seen:]:
                if event.get("kind") in REPORTED_EVENTS:
                    ctx.reporter.progress(desired.address, str(event.get("message")))
            seen = len(events)
            # The workflow's own end counts: NVFlare may go on waiting for a site that died to end the job's run.
            if status.get("state") in TERMINAL_STATES or jobs.training_state(str(session.get_job_status(job_id))) in TERMINAL_STATES:
                status = read_status(self.finished_status_dir(session, job_id)) or {}
                for event in status.get("events", [])[seen:]:
                    if event.get("kind") in REPORTED_EVENTS:
                        ctx.reporter.progress(desired.address, str(event.get("message")))
                return
            pause(_POLL_SECONDS)

    def live_status_dir(self, job_id: str) -> Path:
        """Where the Controller writes ``status.json`` while the job runs: its run directory in the server's workspace
        (the server's kit, when it runs on this machine)."""
        return self.deployment.kit_dir(self.deployment.settings.server_name) / job_id / STATUS_DIR

    def finished_status_dir(self, session: Any | None, job_id: str) -> Path:
        """The Controller's ``status.json`` and plot of a finished job, downloaded once from the server (which keeps
        a finished job's workspace in its job store, and removes its run directory); not without a ``session``."""
        results = self.deployment.root / "results"
        directory = results / job_id / "workspace" / STATUS_DIR
        if session is not None and not (results / job_id / "workspace").is_dir():
            shutil.rmtree(results / job_id, ignore_errors=True)
            results.mkdir(parents=True, exist_ok=True)
            # Not stored yet (the job has only just finished), or never ran: NVFlare says so in its own ways; the next read asks again.
            with contextlib.suppress(Exception):
                session.download_job_result(job_id, destination=str(results))
        return directory

    def _observe(self, session: Any | None, job: dict[str, Any]) -> Observed:
        """The training of ``job``; without a ``session`` (this machine's server does not run), as last read."""
        props = jobs.ownership(job) or {}
        job_id = str(job.get("job_id"))
        run_status = str(job.get("status", ""))
        state = jobs.training_state(run_status)
        directory = self.finished_status_dir(session, job_id) if state in TERMINAL_STATES else self.live_status_dir(job_id)
        status = read_status(directory) or {}
        if state == COMPLETED and status.get("state") not in (None, COMPLETED):
            state = str(status["state"])  # the job ended, but the workflow says how the training did
        elif state not in TERMINAL_STATES and status.get("state") in TERMINAL_STATES:
            state = str(status["state"])  # the workflow ended; NVFlare still winds the job down (a dead site's run, say)
        reason = status.get("reason") or (f"NVFlare run status {run_status}" if state in REPLACED_STATES else None)
        plot = directory / "metrics.png"
        progress = TrainingProgress(state, reason, tuple(round_from_status(entry) for entry in status.get("rounds", [])), None,
                                    str(directory), str(plot) if plot.is_file() else None)
        label = state + (f" ({status.get('rounds_completed', 0)}/{status.get('rounds_total', '?')} rounds)" if status else "")
        if session is None:
            label += ", as last read (the NVFlare server is not running)"
        return Observed(self.kind, str(props.get("name", job.get("name"))), job_id, list(props.get("tags") or []),
                        dict(props.get("attributes") or {}), status=label,
                        replace_reason=f"training {state}: {reason}" if state in REPLACED_STATES else None,
                        created_at=job.get("submit_time_iso"), details=progress, document=job)


def _job_name(stack: str, training: str) -> str:
    """A job (and folder) name NVFlare accepts: letters, digits, dots, underscores and hyphens."""
    import re

    return re.sub(r"[^A-Za-z0-9._-]", "-", f"{stack}.{training}")
