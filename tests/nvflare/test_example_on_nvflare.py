"""The example stack on NVIDIA FLARE through the CLI: kits, a real server and three sites, the crypto_iter_avg training.

``FLDECL_BACKEND=nvflare fldecl apply`` provisions the kits from the stack's CA, starts the server
and the sites from them (free ports on 127.0.0.1), and runs fldecl's round workflow as an NVFlare
job; plan then converges, show prints the rounds, and destroy deletes the stack's job (and no
one else's) and stops every process it started.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("nvflare", reason="the nvflare extra is not installed (pip install 'fldecl[nvflare]')")

from fldecl.providers.nvflare import jobs
from fldecl.providers.nvflare.deployment import Deployment
from fldecl.providers.nvflare.settings import NvflareSettings
from tests.conftest import EXAMPLE, run_cli

pytestmark = pytest.mark.slow
NVFLARE = {"FLDECL_BACKEND": "nvflare", "COLUMNS": "160"}
SITES = ("Party_1", "Party_2", "Party_3")


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
    assert run_cli("plan", str(example), "--detailed-exitcode", env=NVFLARE).returncode == 0
    shown = run_cli("show", str(example), env=NVFLARE)
    assert shown.returncode == 0, shown.stderr
    assert "completed (2/2 rounds)" in shown.stdout and "all (fused)" in shown.stdout and "Metrics plot:" in shown.stdout
    assert shown.stdout.count(" connected ") >= len(SITES)


def test_destroy_deletes_the_stacks_job_only_and_stops_what_apply_started(example: Path,
                                                                         applied: subprocess.CompletedProcess[str],
                                                                         tmp_path: Path) -> None:
    deployment = deployment_of(example)
    parties = [jobs.JobParty(site, site, False, "") for site in SITES]
    foreign_folder = jobs.write_job(tmp_path / "foreign", "foreign", {"quorum_size": 1, "name": "foreign"}, parties, b"x",
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
