"""The example stack on NVIDIA FLARE through the CLI: kits, a real server and three sites, the crypto_iter_avg training.

``FLDECL_BACKEND=nvflare fldecl apply`` provisions the kits from the stack's CA, starts the server
and the sites from them (free ports on 127.0.0.1), and runs fldecl's round workflow as an NVFlare
job; plan then converges, show prints the rounds, and destroy deletes the stack's job (and no
one else's) and stops every process it started. Before the destroy, the stack is turned into iter_avg with a
scikit-learn model and three applies are killed while they create its new job; the last apply leaves one job,
which trains the scikit-learn model with plaintext updates, and its final model is stored as a Model. The
running server and sites of this stack serve those tests too, so no second deployment is started for them.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("nvflare", reason="the nvflare extra is not installed (pip install 'fldecl[nvflare]')")

from fldecl.core.contract import ProviderContext
from fldecl.fl.status import read_status
from fldecl.kinds.training_run import TrainingProgress
from fldecl.providers.nvflare import jobs
from fldecl.providers.nvflare.deployment import Deployment
from fldecl.providers.nvflare.settings import NvflareSettings
from fldecl.vocabulary import TERMINAL_STATES
from tests.conftest import EXAMPLE, run_cli
from tests.example_stack import add_trained_model, to_scikit_learn
from tests.nvflare.conftest import UNSCHEDULED, Silent, ended_training

pytestmark = pytest.mark.slow(seconds=175)
NVFLARE = {"FLDECL_BACKEND": "nvflare", "COLUMNS": "160"}
SITES = ("Party_1", "Party_2", "Party_3")
OWNER = "fldecl.stack.mnist-fhe"
CREATING = "Training/aggregator_he: Creating..."


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    stack = tmp_path_factory.mktemp("nvflare-example") / "mnist-fhe"
    shutil.copytree(EXAMPLE, stack, ignore=shutil.ignore_patterns(".fldecl", "pki", "data"))
    yield stack
    deployment = Deployment(stack / ".fldecl", NvflareSettings())
    for participant in (*SITES, deployment.settings.server_name):
        deployment.stop(participant)  # whatever a failed test left running


@pytest.fixture(scope="module")
def applied(example: Path) -> subprocess.CompletedProcess[str]:
    return run_cli("apply", str(example), "--auto-approve", env=NVFLARE, timeout=900)


def deployment_of(stack: Path) -> Deployment:
    return Deployment(stack / ".fldecl", NvflareSettings())


def test_apply_starts_nvflare_from_the_kits_and_trains_with_per_round_accuracy(example: Path,
                                                                               applied: subprocess.CompletedProcess[str]) -> None:
    assert applied.returncode == 0, applied.stdout + applied.stderr
    output = applied.stdout
    assert "Training/aggregator_he: submitted as NVFlare job" in output
    assert all(f"{site} joined from NVFlare site {site}" in output for site in SITES)
    assert "generated the keys; 3 parties opened them" in output
    assert "round 1 completed" in output and "round 2 completed" in output and "fused model accuracy" in output
    assert "Apply complete! 10 created, 0 updated, 0 deleted." in output
    deployment = deployment_of(example)
    assert all(deployment.running(participant) for participant in (*SITES, deployment.settings.server_name))
    assert deployment.connected_sites() == set(SITES)


def test_the_stack_converges_and_show_reads_the_live_server(example: Path, applied: subprocess.CompletedProcess[str]) -> None:
    planned = run_cli("plan", str(example), "--detailed-exitcode", env=NVFLARE)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert planned.stderr == ""  # nothing of NVFlare's admin client ("Connecting to FLARE ...")
    # NVFlare's admin client looks for an optional comm_config in the admin's kit, never in the working directory.
    elsewhere = example.parent / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    (elsewhere / "comm_config.json").write_text("{not NVFlare's")
    shown = run_cli("show", str(example), env=NVFLARE, cwd=elsewhere)
    assert shown.returncode == 0, shown.stderr
    assert "completed (2/2 rounds)" in shown.stdout and "fused accuracy" in shown.stdout and "Metrics plot:" in shown.stdout
    assert shown.stdout.count(" connected ") >= len(SITES)


def test_after_a_reboot_plan_shows_the_processes_to_start_and_apply_starts_them(example: Path,
                                                                              applied: subprocess.CompletedProcess[str]) -> None:
    deployment = deployment_of(example)
    for participant in (*SITES, deployment.settings.server_name):
        deployment.stop(participant)  # as a reboot would
    planned = run_cli("plan", str(example), "--detailed-exitcode", env=NVFLARE)
    assert planned.returncode == 2, planned.stdout + planned.stderr
    assert "cannot reach" not in planned.stderr and "Connecting to FLARE" not in planned.stderr
    assert planned.stdout.count("the NVFlare server is not running; apply starts it again") == len(SITES)
    assert f"Plan: 0 to create, {len(SITES)} to update, 0 to replace, 0 to delete." in planned.stdout
    reapplied = run_cli("apply", str(example), "--auto-approve", env=NVFLARE, timeout=600)
    assert reapplied.returncode == 0, reapplied.stdout + reapplied.stderr
    assert f"Apply complete! 0 created, {len(SITES)} updated, 0 deleted." in reapplied.stdout
    assert deployment.connected_sites() == set(SITES)
    assert run_cli("plan", str(example), "--detailed-exitcode", env=NVFLARE).returncode == 0


def test_party_run_runs_a_site_from_its_kit_in_the_foreground_and_party_config_names_the_kit(
        example: Path, applied: subprocess.CompletedProcess[str]) -> None:
    deployment = deployment_of(example)
    deployment.stop("Party_3")
    site = subprocess.Popen([sys.executable, "-m", "fldecl", "party", "run", "Party_3", str(example), "--training", "aggregator_he"],
                            env={**os.environ, **NVFLARE}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while "Party_3" not in (deployment.connected_sites() or set()):
            assert site.poll() is None and time.monotonic() < deadline, site.stderr.read() if site.stderr else ""
            time.sleep(1)
        assert not deployment.running("Party_3")  # not apply's background process: the foreground one
        config = run_cli("party", "config", "Party_3", str(example), env=NVFLARE)
        assert config.returncode == 1
        assert "not offered on nvflare" in config.stderr and str(deployment.kit_dir("Party_3")) in config.stderr.replace("\n", "")
    finally:
        os.killpg(site.pid, signal.SIGINT)  # Ctrl-C at its terminal
        site.wait(timeout=60)
    # NVFlare's server lists a site that stopped without signing out until its heartbeat times out (10 minutes): apply
    # tells that the site is down by its process here, not by that list, and starts it again at once.
    restarted = run_cli("apply", str(example), "--auto-approve", env=NVFLARE, timeout=600)
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert "Apply complete! 0 created, 1 updated, 0 deleted." in restarted.stdout
    assert deployment.running("Party_3")  # apply's background process again
    assert deployment.connected_sites() == set(SITES)


def apply_killed_while_creating(stack: Path, delay: float) -> None:
    environment = {**os.environ, **NVFLARE, "NO_COLOR": "1"}
    apply = subprocess.Popen([sys.executable, "-m", "fldecl", "apply", str(stack), "--auto-approve"], env=environment,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert apply.stdout is not None
    for line in apply.stdout:
        if CREATING in line:
            time.sleep(delay)
            if apply.poll() is None:
                os.kill(apply.pid, signal.SIGKILL)
            break
    apply.wait()


def finished_training(stack: Path, within: float) -> dict[str, Any]:
    """The status its Controller wrote of the stack's one training, once it ended (it may still run after an apply that
    found it made) and the server stored it; fails if that takes longer than ``within`` seconds."""

    def stored(progress: TrainingProgress) -> bool:
        return progress.state in TERMINAL_STATES and bool(progress.work_dir) and \
            (read_status(Path(str(progress.work_dir))) or {}).get("state") in TERMINAL_STATES

    progress = ended_training(deployment_of(stack), ProviderContext("mnist-fhe", stack, stack / ".fldecl", OWNER, Silent()), within,
                              ended=stored)
    return read_status(Path(str(progress.work_dir))) or {}


def test_three_killed_applies_then_an_apply_leave_exactly_one_job_which_trains_scikit_learn(
        example: Path, applied: subprocess.CompletedProcess[str]) -> None:
    """The stack turned into iter_avg with a scikit-learn model (a changed Training is replaced): each apply deletes the
    old job and is killed -9 at a later moment of the new one's create (before the admin session is up, around the
    submit, after it); an apply that finds the job already made has nothing to create and runs to its end. A last
    apply converges, and the server holds exactly one job of the stack. That job trains the scikit-learn model with
    plaintext updates (no keys) on the same server and sites, plans clean, shows its rounds, and its final model is
    stored as a Model (``source: training``)."""
    to_scikit_learn(example)
    for delay in (0.0, 4.0, 9.0):
        apply_killed_while_creating(example, delay)
    again = run_cli("apply", str(example), "--auto-approve", env=NVFLARE, timeout=900)
    assert again.returncode == 0, again.stdout + again.stderr
    with deployment_of(example).session() as session:
        assert len(jobs.owned_jobs(session, OWNER)) == 1
    status = finished_training(example, within=300)
    assert status["state"] == "completed", status.get("reason")
    events = status["events"]
    kinds = [event.get("kind") for event in events]
    rounds = [str(event.get("message")) for event in events if event.get("kind") == "round_completed"]
    assert len(rounds) == 2 and rounds[-1].startswith("round 2 completed") and "fused model accuracy" in rounds[-1], rounds
    assert not {"keys_requested", "keys_distributed"} & set(kinds)  # iter_avg: plaintext updates, no keys
    assert run_cli("plan", str(example), "--detailed-exitcode", env=NVFLARE).returncode == 0
    shown = run_cli("show", str(example), env=NVFLARE)
    assert shown.returncode == 0, shown.stderr
    assert "completed (2/2 rounds)" in shown.stdout and "fused accuracy" in shown.stdout, shown.stdout
    add_trained_model(example, "scikit-learn_1.1", "model.pickle")  # the final model, as a party saved it at its site
    stored = run_cli("apply", str(example), "--auto-approve", env=NVFLARE, timeout=300)
    assert stored.returncode == 0, stored.stdout + stored.stderr
    assert "Apply complete! 1 created, 0 updated, 0 deleted." in stored.stdout


def test_destroy_deletes_the_stacks_job_only_and_stops_what_apply_started(example: Path,
                                                                         applied: subprocess.CompletedProcess[str],
                                                                         tmp_path: Path) -> None:
    deployment = deployment_of(example)
    # It requires a site that never connects, so NVFlare never schedules it: someone else's job, and no process to start.
    foreign_folder = jobs.write_job(tmp_path / "foreign", "foreign", {"quorum_size": 1, "name": "foreign"}, UNSCHEDULED, b"x",
                                    ["someone.else"], "foreign", {})
    with deployment.session() as session:
        foreign = jobs.submit(session, foreign_folder, "someone.else", "foreign")
    assert run_cli("plan", str(example), "--detailed-exitcode", env=NVFLARE).returncode == 0
    destroyed = run_cli("destroy", str(example), "--auto-approve", env=NVFLARE, timeout=300)
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    assert not any(deployment.running(participant) for participant in (*SITES, deployment.settings.server_name))
    stored = {path.name for path in (deployment.kit_dir(deployment.settings.server_name) / "storage" / "jobs").iterdir()}
    assert foreign in stored
    assert len(stored) == 1  # the stack's job is gone
