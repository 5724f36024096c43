"""fldecl's NVFlare Controller: the round workflow of :mod:`fldecl.fl.workflow`, its tasks carried by NVFlare.

The job's app brings the training (``fldecl_training.json``: the Training's spec, its parties'
sites and certificates) and the initial model. The Controller builds the same
:class:`~fldecl.fl.training_job.TrainingJob` as the local runtime, with the server's kit as the
aggregator's identity, and runs :class:`~fldecl.fl.workflow.RoundWorkflow` over
:class:`~fldecl.providers.nvflare.app.transport.NvflareTransport`. Progress goes to
``status.json`` (and ``metrics.png``) in ``fldecl/`` of the job's run directory on the server,
where fldecl's provider reads it. The server holds only public parameters: for
``crypto_iter_avg`` it adds ciphertexts and never holds a secret key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nvflare.apis.impl.controller import Controller

from fldecl.fl.status import StatusWriter
from fldecl.fl.training_job import TrainingJob
from fldecl.fl.workflow import RoundWorkflow
from fldecl.launch.job import ModelToTrain, training_settings
from fldecl.providers.nvflare.app.transport import NvflareTransport

STATUS_DIR = "fldecl"


class RoundController(Controller):  # type: ignore[misc]
    def __init__(self, training_file: str, model_file: str, task_check_period: float = 0.2) -> None:
        super().__init__(task_check_period=task_check_period)
        self.training_file = training_file
        self.model_file = model_file

    def start_controller(self, fl_ctx: Any) -> None:
        pass

    def stop_controller(self, fl_ctx: Any) -> None:
        pass

    def process_result_of_unknown_task(self, client: Any, task_name: str, client_task_id: str, result: Any, fl_ctx: Any) -> None:
        pass  # a late reply to a task the workflow gave up on: the workflow already counted it as no answer

    def control_flow(self, abort_signal: Any, fl_ctx: Any) -> None:
        workspace = fl_ctx.get_engine().get_workspace()
        job_id = str(fl_ctx.get_job_id())
        config_dir = Path(workspace.get_app_config_dir(job_id))
        work_dir = Path(workspace.get_run_dir(job_id)) / STATUS_DIR
        training = json.loads((config_dir / self.training_file).read_text())
        job = self._job(job_id, training, config_dir, work_dir, workspace)
        status = StatusWriter(work_dir, job_id, job.rounds)
        transport = NvflareTransport(self, fl_ctx, abort_signal, job_id, [party["site"] for party in training["parties"]])
        state = RoundWorkflow(job, transport, status).run()
        self.log_info(fl_ctx, f"fldecl training {training['name']} {state}")

    def _job(self, job_id: str, training: dict[str, Any], config_dir: Path, work_dir: Path, workspace: Any) -> TrainingJob:
        """The training's job as the local runtime builds it; the parties' certificates written beside the status."""
        certificates = work_dir / "certificates"
        certificates.mkdir(parents=True, exist_ok=True)
        parties = []
        for party in training["parties"]:
            cert_file = certificates / f"{party['site']}.crt"
            cert_file.write_text(party["certificate"])
            parties.append({"name": party["name"], "required": party["required"], "cert_file": str(cert_file)})
        model = ModelToTrain(config_dir / self.model_file, training["model_file"], training["model_type"], training["trusted"])
        return TrainingJob(
            training_id=job_id, name=training["name"], **training_settings(training["spec"], model), parties=parties,
            ca_cert_file=workspace.get_file_path_in_startup("rootCA.pem"),
            aggregator_cert_file=workspace.get_file_path_in_startup("server.crt"),
            aggregator_key_file=workspace.get_file_path_in_startup("server.key"), work_dir=str(work_dir),
        )
