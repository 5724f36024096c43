"""fldecl's round workflow as NVFlare jobs on a real server and three sites: what the server holds, and parties killed mid-training.

The sites run the parties of the FL runtime tests' stack (its CA, certificates, data splits and
small model), from kits built from that CA; the jobs are written as the Training's create writes
them. In the first job the server's Controller is fldecl's with a recorder (the job's own custom
code, as NVFlare runs any job's) that keeps every message the parties sent the server in the
server's workspace, so the test can try, with the server's and the admin's keys, to open what the
server held. One deployment serves every test of the module.
"""

from __future__ import annotations

import contextlib
import json
import math
import pickle
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import psutil
import pytest

pytest.importorskip("nvflare", reason="the nvflare extra is not installed (pip install 'fldecl[nvflare]')")

from fldecl.core.contract import ProviderContext
from fldecl.fl.protocol import Message
from fldecl.fl.status import read_status
from fldecl.kinds.training_run import TrainingProgress
from fldecl.providers.nvflare import jobs
from fldecl.providers.nvflare.deployment import Authority, Deployment
from tests.fl.flstack import PARTIES, Stack, assert_no_outsider_can_open_the_keys, create_stack, party_settings
from tests.nvflare.conftest import Silent, SiteToRun, deployed, ended_training, trainings_of

pytestmark = pytest.mark.slow(seconds=140)
OWNER = "fldecl.stack.nvflare-training-test"
#: No training here waits for a party longer than this; a test fails if its job outlives it by much. A step
#: (admission, keys, a round's training or evaluation) takes under 10 s on a loaded 2-core machine; every step
#: after a kill waits this long for the dead party, so it is the killed-party tests' cost.
MAX_TIMEOUT = 20
RECORDER = '''
import pickle
from pathlib import Path
from typing import Any

from fldecl.providers.nvflare.app import transport
from fldecl.providers.nvflare.app.controller import RoundController


class RecordingController(RoundController):
    """fldecl's Controller, keeping each message a party sent it in received/ of the job's run directory."""

    def control_flow(self, abort_signal, fl_ctx):
        workspace = fl_ctx.get_engine().get_workspace()
        received = Path(workspace.get_root_dir()) / f"received-{fl_ctx.get_job_id()}"  # beside the run directory NVFlare removes
        received.mkdir()
        ask = transport.NvflareTransport.ask

        def recording(this, tasks, timeout):
            replies = ask(this, tasks, timeout)
            for reply in replies.values():
                if isinstance(reply, transport.Message):
                    (received / f"{len(list(received.iterdir())):04d}.pickle").write_bytes(pickle.dumps(reply.to_dict()))
            return replies

        transport.NvflareTransport.ask = recording
        super().control_flow(abort_signal, fl_ctx)
'''


@dataclass
class Parties:
    stack: Stack
    deployment: Deployment

    def context(self) -> ProviderContext:
        return ProviderContext("nvflare-training-test", self.stack.root, self.deployment.root.parent, OWNER, Silent())


@pytest.fixture(scope="module")
def parties(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Parties]:
    stack = create_stack(tmp_path_factory.mktemp("stack"))
    sites = [SiteToRun(name, stack.cert(name), stack.key(name), asdict(party_settings(stack, name, "digits"))) for name in PARTIES]
    with deployed(stack.root / ".fldecl", Authority(stack.key("ca"), stack.ca_cert), sites) as deployment:
        yield Parties(stack, deployment)


def submit(parties: Parties, name: str, *, rounds: int = 1, quorum: float = 1.0, required: tuple[str, ...] = PARTIES,
           recording: bool = False) -> str:
    """A crypto_iter_avg training of the stack's small network as an NVFlare job; its id."""
    stack = parties.stack
    zip_path, model_file, model_type = stack.model("small_net")
    spec = {"fusion_type": "crypto_iter_avg", "crypto": {"cipher_spec": "encryption_level_1"}, "epochs": 1, "rounds": rounds,
            "metrics": "accuracy", "optimizer": None, "loss": None, "batch_size": 32, "seed": 0,
            "remote_training": {"quorum": quorum, "max_timeout": MAX_TIMEOUT}}
    training = {"name": name, "spec": spec, "model_file": model_file, "model_type": model_type, "trusted": True,
                "quorum_size": math.ceil(quorum * len(PARTIES) - 1e-9)}
    job_parties = [jobs.JobParty(party, party, party in required, stack.cert(party).read_text()) for party in PARTIES]
    folder = jobs.write_job(stack.root / "jobs" / name, name, training, job_parties, zip_path.read_bytes(), [OWNER], name, spec)
    if recording:
        (folder / jobs.APP / "custom").mkdir()
        (folder / jobs.APP / "custom" / "recorder.py").write_text(RECORDER)
        server_config = folder / jobs.APP / "config" / "config_fed_server.json"
        config = json.loads(server_config.read_text())
        config["workflows"][0]["path"] = "recorder.RecordingController"
        server_config.write_text(json.dumps(config))
    with parties.deployment.session() as session:
        return jobs.submit(session, folder, OWNER, name)


def finished(parties: Parties, job_id: str, within: float) -> TrainingProgress:
    """The training's progress once it ended, as a plan reads it; fails if that takes longer than ``within`` seconds."""
    return ended_training(parties.deployment, parties.context(), within, job_id)


def test_the_server_cannot_open_the_keys_or_decrypt_what_it_fused(parties: Parties) -> None:
    job_id = submit(parties, "recorded", recording=True)
    progress = finished(parties, job_id, within=300)
    assert progress.state == "completed", progress.reason
    assert [entry.round for entry in progress.rounds] == [1]
    recorded = parties.deployment.kit_dir(parties.deployment.settings.server_name) / f"received-{job_id}"
    received = [Message.from_dict(pickle.loads(path.read_bytes())) for path in sorted(recorded.iterdir())]
    assert {"keys_generated", "update", "evaluation"} <= {message.type for message in received}
    identities = parties.deployment.root / "identities"
    server_and_admin = [(identities / f"{name}.key").read_bytes()
                        for name in (parties.deployment.settings.server_name, parties.deployment.settings.admin)]
    assert_no_outsider_can_open_the_keys(received, job_id, parties.stack.ca_cert.read_bytes(), server_and_admin)


def kill_once(parties: Parties, job_id: str, site: str, reached: str, has_reached: Callable[[dict[str, Any]], bool]) -> None:
    """kill -9 every process of ``site`` (its own and its job's, as a power cut would) once the training's status says
    it ``has_reached`` that point (``reached`` names it)."""
    status_dir = trainings_of(parties.deployment).live_status_dir(job_id)
    deadline = time.monotonic() + 300
    while not has_reached(read_status(status_dir) or {}):
        assert time.monotonic() < deadline, f"the training never reached {reached}"
        time.sleep(0.5)
    kit = str(parties.deployment.kit_dir(site))
    for process in psutil.process_iter(["cmdline"]):
        if any(part.startswith(kit) for part in process.info.get("cmdline") or []):
            with contextlib.suppress(psutil.Error):
                process.kill()
    parties.deployment.stop(site)  # nothing left to stop: forgets the process group


def round_one_fused(status: dict[str, Any]) -> bool:
    return int(status.get("rounds_completed", 0)) >= 1


def keys_shared(status: dict[str, Any]) -> bool:
    return any(event.get("kind") == "keys_distributed" for event in status.get("events", []))


@pytest.fixture
def party_3_restarted(parties: Parties) -> Iterator[None]:
    yield
    parties.deployment.start("Party_3")
    parties.deployment.wait_for_site("Party_3")


def test_a_party_killed_mid_training_is_dropped_and_the_quorum_carries_on(parties: Parties, party_3_restarted: None) -> None:
    job_id = submit(parties, "quorum", rounds=2, quorum=2 / 3, required=("Party_1", "Party_2"))
    kill_once(parties, job_id, "Party_3", "round 1", round_one_fused)
    progress = finished(parties, job_id, within=3 * MAX_TIMEOUT + 180)  # round 2's training and evaluation, then the finish, wait for it
    assert progress.state == "completed", progress.reason
    assert [entry.round for entry in progress.rounds] == [1, 2]
    assert set(progress.rounds[0].parties) == set(PARTIES)
    assert "Party_3" not in {name for name, party in progress.rounds[-1].parties.items() if party.contributed}


def test_a_required_party_killed_mid_training_fails_it_without_hanging(parties: Parties) -> None:
    """The module's last test: Party_3 stays down (the module's deployment stops with it)."""
    job_id = submit(parties, "required")
    kill_once(parties, job_id, "Party_3", "the keys shared", keys_shared)
    progress = finished(parties, job_id, within=MAX_TIMEOUT + 180)  # round 1's training waits for it
    assert progress.state == "failed"
    assert "required party Party_3 lost its connection to the server" in (progress.reason or ""), progress.reason
