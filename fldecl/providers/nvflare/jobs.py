"""An NVFlare job of fldecl's: its folder, its ownership tag, its retry-safe submit token, its state.

A job is a folder NVFlare's admin API uploads: ``meta.json`` and one app, deployed to the server
and the training's sites. The app's configs name fldecl's Controller and Executor
(:mod:`fldecl.providers.nvflare.app`) and carry the training (``fldecl_training.json``) and its
initial model; nothing of a party's (its key, its data paths) is in it: each site reads its own
settings from its kit's ``local/`` folder.

Ownership: ``meta.json``'s ``custom_props`` hold ``{"fldecl": {"tags", "name", "attributes"}}``,
which ``list_jobs(detailed=True)`` returns; a job without the stack's tag there is never read,
changed or deleted. The submit token is derived from the stack, the training and the job's
content, so a submit retried after a lost reply, or by an apply run again after a kill, returns
the same job; NVFlare refuses a token whose job was deleted, so each deletion moves the token to
its next generation.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fldecl.core.errors import ProviderError
from fldecl.vocabulary import CANCELED, COMPLETED, FAILED, PENDING, RUNNING

CUSTOM_PROPS = "custom_props"
FLDECL_PROPS = "fldecl"
APP = "app"
SERVER_SITE = "server"
TRAINING_FILE = "fldecl_training.json"
MODEL_FILE = "initial_model.zip"
CONTROLLER = "fldecl.providers.nvflare.app.controller.RoundController"
EXECUTOR = "fldecl.providers.nvflare.app.executor.PartyExecutor"
#: The one task name fldecl's Controller sends (what it asks is in the task's message).
TASK_NAME = "fldecl"
_MAX_TOKEN_GENERATIONS = 1000
_DELETE_TIMEOUT = 60.0

#: NVFlare's run states (``nvflare.apis.job_def.RunStatus``) in fldecl's vocabulary of training states.
_STATES = {
    "SUBMITTED": PENDING, "APPROVED": PENDING, "DISPATCHED": PENDING, "RUNNING": RUNNING,
    "FINISHED:COMPLETED": COMPLETED, "FINISHED:ABORTED": CANCELED,
}


@dataclass(frozen=True)
class JobParty:
    """A party of the training: its manifest name, its NVFlare site, whether the training needs it, its certificate (PEM)."""

    name: str
    site: str
    required: bool
    certificate: str


def training_state(run_status: str) -> str:
    """fldecl's state of an NVFlare run status (any other ``FINISHED:...`` is a failure)."""
    return _STATES.get(run_status, FAILED if run_status.startswith("FINISHED") else PENDING)


def ownership(job: Mapping[str, Any]) -> dict[str, Any] | None:
    """The fldecl properties of a job listed with ``list_jobs(detailed=True)``, or None for a job fldecl did not make."""
    props = (job.get(CUSTOM_PROPS) or {}).get(FLDECL_PROPS)
    return props if isinstance(props, dict) else None


def write_job(folder: Path, job_name: str, training: Mapping[str, Any], parties: Sequence[JobParty], model_zip: bytes,
              tags: Sequence[str], manifest_name: str, attributes: Mapping[str, Any]) -> Path:
    """The job folder NVFlare's ``submit_job`` uploads, written afresh into ``folder``."""
    if folder.exists():
        shutil.rmtree(folder)
    config = folder / APP / "config"
    config.mkdir(parents=True)
    sites = [party.site for party in parties]
    quorum_size = int(training["quorum_size"])
    meta = {
        "name": job_name,
        "resource_spec": {},
        "deploy_map": {APP: [SERVER_SITE, *sites]},
        "min_clients": quorum_size,
        "mandatory_clients": [party.site for party in parties if party.required],
        CUSTOM_PROPS: {FLDECL_PROPS: {"tags": list(tags), "name": manifest_name, "attributes": dict(attributes)}},
    }
    _write_json(folder / "meta.json", meta)
    _write_json(config / "config_fed_server.json", {
        "format_version": 2,
        "workflows": [{"id": "fldecl_rounds", "path": CONTROLLER, "args": {"training_file": TRAINING_FILE, "model_file": MODEL_FILE}}],
        "components": [],
    })
    _write_json(config / "config_fed_client.json", {
        "format_version": 2,
        "executors": [{"tasks": [TASK_NAME],
                       "executor": {"path": EXECUTOR, "args": {"training_file": TRAINING_FILE, "model_file": MODEL_FILE}}}],
        "components": [],
    })
    _write_json(config / TRAINING_FILE, {**training, "parties": [party.__dict__ for party in parties]})
    (config / MODEL_FILE).write_bytes(model_zip)
    return folder


def submit_token(owner_tag: str, manifest_name: str, folder: Path, generation: int) -> str:
    """The token of this job's content for this stack and training, at ``generation`` (bumped past deleted jobs).

    The content is hashed as NVFlare hashes it to check a token's reuse: without the signature files its
    admin client writes into the folder at each submit.
    """
    from nvflare.apis.utils.job_submit_token import canonical_job_content_hash

    content = canonical_job_content_hash(str(folder))
    base = hashlib.sha256(f"{owner_tag}\0{manifest_name}\0{content}".encode()).hexdigest()[:32]
    return f"fldecl-{base}-{generation}"


def submit(session: Any, folder: Path, owner_tag: str, manifest_name: str) -> str:
    """Submit the job folder once: the same job id whatever was submitted before with this content, unless deleted."""
    from nvflare.fuel.flare_api.api_spec import SubmitTokenJobDeleted  # lazy: NVFlare only where jobs are made

    for generation in range(_MAX_TOKEN_GENERATIONS):
        try:
            return str(session.submit_job(str(folder), submit_token=submit_token(owner_tag, manifest_name, folder, generation)))
        except SubmitTokenJobDeleted:
            continue
    raise ProviderError(f"every submit token of {manifest_name} up to generation {_MAX_TOKEN_GENERATIONS} names a deleted job")


def owned_jobs(session: Any, owner_tag: str) -> list[dict[str, Any]]:
    """The jobs on the server that carry ``owner_tag``: one ``list_jobs`` call."""
    return [job for job in session.list_jobs(detailed=True) if owner_tag in ((ownership(job) or {}).get("tags") or [])]


def abort_and_delete(session: Any, job_id: str) -> None:
    """NVFlare deletes only a finished job: abort it first if it still runs."""
    from nvflare.fuel.flare_api.api_spec import JobNotDone, JobNotFound, JobNotRunning

    try:
        session.abort_job(job_id)
    except (JobNotRunning, JobNotFound):
        pass
    except Exception as exc:  # abort of a job that finished meanwhile: NVFlare says so in several ways
        if "not running" not in str(exc).lower():
            raise
    deadline = time.monotonic() + _DELETE_TIMEOUT
    while True:
        try:
            session.delete_job(job_id)
            return
        except JobNotFound:
            return
        except JobNotDone:
            if time.monotonic() >= deadline:
                raise ProviderError(f"NVFlare job {job_id} was aborted but is still running after {_DELETE_TIMEOUT:.0f} s") from None
            time.sleep(1.0)


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=True))
