"""Three kill -9s of an apply while it creates the NVFlare job, each followed by another apply: one job, never two.

Each apply is killed at a later moment of the Training's create (before the admin session is up,
around the submit, after it); an apply that finds the job already made has nothing to create and
runs to its end. A last apply converges, and the server holds exactly one job of the stack.
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

import pytest

from fldecl.providers.nvflare import jobs
from fldecl.providers.nvflare.deployment import Deployment
from fldecl.providers.nvflare.settings import NvflareSettings
from tests.conftest import EXAMPLE, run_cli

pytest.importorskip("nvflare", reason="the nvflare extra is not installed (pip install 'fldecl[nvflare]')")

pytestmark = pytest.mark.slow
NVFLARE = {"FLDECL_BACKEND": "nvflare"}
OWNER = "fldecl.stack.mnist-fhe"
CREATING = "Training/aggregator_he: Creating..."


@pytest.fixture(scope="module")
def sites_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The example with its server and sites running, and its Training not yet applied."""
    stack = tmp_path_factory.mktemp("nvflare-kill") / "mnist-fhe"
    shutil.copytree(EXAMPLE, stack, ignore=shutil.ignore_patterns(".fldecl", "pki", "data"))
    training = (stack / "training.yaml").read_text()
    (stack / "training.yaml").unlink()
    applied = run_cli("apply", str(stack), "--auto-approve", env=NVFLARE, timeout=600)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    (stack / "training.yaml").write_text(training)
    yield stack
    run_cli("destroy", str(stack), "--auto-approve", env=NVFLARE, timeout=300)
    deployment = Deployment(stack / ".fldecl", NvflareSettings())
    for participant in ("Party_1", "Party_2", "Party_3", deployment.settings.server_name):
        deployment.stop(participant)


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


def test_three_killed_applies_then_an_apply_leave_exactly_one_job(sites_up: Path) -> None:
    for delay in (0.0, 4.0, 9.0):
        apply_killed_while_creating(sites_up, delay)
    again = run_cli("apply", str(sites_up), "--auto-approve", env=NVFLARE, timeout=900)
    assert again.returncode == 0, again.stdout + again.stderr
    with Deployment(sites_up / ".fldecl", NvflareSettings()).session() as session:
        assert len(jobs.owned_jobs(session, OWNER)) == 1
