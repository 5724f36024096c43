"""fldecl's NVFlare Executor: a site's party, answering the Controller's tasks with :class:`~fldecl.fl.party_tasks.PartyTasks`.

The party's settings (its key, certificate and CA, its data handler) come from the site's own kit
(``local/fldecl_party.json``), never from the job, so nothing of a party's travels through the
server. The model and the training's settings come with the job's app. The greeting is answered
with the party's name and certificate; a party that cannot load its model or data still answers
it, then replies ``error`` with the reason to the first task, so the workflow stops waiting for it.
The secret keyring of a ``crypto_iter_avg`` training stays in this process; the final model
stays in the site's run directory (``fldecl/parties/<party>/final_model.zip``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding
from nvflare.apis.event_type import EventType
from nvflare.apis.executor import Executor
from nvflare.apis.fl_constant import ReturnCode
from nvflare.apis.shareable import Shareable, make_reply

from fldecl.fl import protocol
from fldecl.fl.errors import PartyError
from fldecl.fl.party_tasks import PartyTasks, TrainingToJoin
from fldecl.fl.protocol import Message
from fldecl.fl.training_job import PartySettings
from fldecl.pki.files import load_certificate
from fldecl.providers.nvflare.app.controller import STATUS_DIR
from fldecl.providers.nvflare.app.messages import (
    ADMIN_CERTIFICATE_FILE,
    HELLO,
    PARTY_SETTINGS_FILE,
    PROBE_TOPIC,
    SERVER_CERTIFICATE_FILE,
    from_shareable,
    to_shareable,
)


class PartyExecutor(Executor):  # type: ignore[misc]
    def __init__(self, training_file: str, model_file: str) -> None:
        super().__init__()
        self.training_file = training_file
        self.model_file = model_file
        self.tasks: PartyTasks | None = None
        self.load_failure: str | None = None
        self.stopped: str | None = None

    def handle_event(self, event_type: str, fl_ctx: Any) -> None:
        if event_type == EventType.START_RUN:  # the Controller probes whether a site it waits for is still there
            fl_ctx.get_engine().register_aux_message_handler(PROBE_TOPIC, _reachable)

    def execute(self, task_name: str, shareable: Any, fl_ctx: Any, abort_signal: Any) -> Any:
        try:
            message = from_shareable(shareable)
        except ValueError as error:
            self.log_error(fl_ctx, f"not a task of fldecl's: {error}")
            return make_reply(ReturnCode.BAD_TASK_DATA)
        return to_shareable(self._answer(message, fl_ctx))

    def _answer(self, message: Message, fl_ctx: Any) -> Message:
        if self.stopped is not None:
            return protocol.error_message(self.stopped)
        if message.type == HELLO:
            return self._greet(fl_ctx)
        if self.tasks is None:
            return protocol.error_message("a task came before the greeting")
        if self.load_failure is not None:
            return self._stop(self.load_failure)
        try:
            return self.tasks.handle(message)
        except PartyError as error:
            return self._stop(str(error))

    def _greet(self, fl_ctx: Any) -> Message:
        """Load the model and data (once), then say who this party is."""
        workspace = fl_ctx.get_engine().get_workspace()
        job_id = str(fl_ctx.get_job_id())
        site_config = Path(workspace.get_site_config_dir())
        settings_file = site_config / PARTY_SETTINGS_FILE
        if not settings_file.is_file():
            return self._stop(f"site {fl_ctx.get_identity_name()} has no fldecl party settings ({settings_file})")
        settings = PartySettings(**json.loads(settings_file.read_text()))
        missing = [name for name in (SERVER_CERTIFICATE_FILE, ADMIN_CERTIFICATE_FILE) if not (site_config / name).is_file()]
        if missing:
            return self._stop(f"site {fl_ctx.get_identity_name()}'s kit lacks {', '.join(missing)} in {site_config}, the identities "
                              "it never shares the training's keys with: rebuild its kit with `fldecl apply`")
        if self.tasks is None:
            config_dir = Path(workspace.get_app_config_dir(job_id))
            training = json.loads((config_dir / self.training_file).read_text())
            join = TrainingToJoin(job_id, config_dir / self.model_file, training["model_file"], training["model_type"],
                                  training["trusted"], Path(workspace.get_run_dir(job_id)) / STATUS_DIR)
            self.tasks = PartyTasks(settings, join, lambda event: self.log_info(fl_ctx, event.message))
            self.tasks.trust_server((site_config / SERVER_CERTIFICATE_FILE).read_bytes())
            self.tasks.never_share_with((site_config / ADMIN_CERTIFICATE_FILE).read_bytes(), "the NVFlare admin")
            try:
                self.tasks.load()
            except PartyError as error:
                self.load_failure = str(error)
        certificate = settings.path(settings.cert_file)
        der = load_certificate(certificate).public_bytes(Encoding.DER)
        return Message(HELLO, {"party": settings.name, "training_id": job_id}, [der])

    def _stop(self, reason: str) -> Message:
        self.stopped = reason
        return protocol.error_message(reason)


def _reachable(topic: str, request: Any, fl_ctx: Any) -> Shareable:
    return make_reply(ReturnCode.OK)
