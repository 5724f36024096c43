"""The GitOps recipe runs: the workflow file kept in the repository is parsed and its steps' commands run,
each job in a fresh copy of the repository (as a CI runner checks it out), against the WML emulator.
The pull request's saved plan is what the merge applies, and the next pull request plans no changes."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from fldecl.emulator import EmulatorServer
from tests.conftest import ROOT
from tests.wml.conftest import cli_env

WORKFLOW = ROOT / "examples" / "gitops" / "fldecl.yml"


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    document = yaml.safe_load(WORKFLOW.read_text())
    document["on"] = document.pop(True)  # YAML 1.1 reads the key `on` as true
    return document


def checkout(runner: Path) -> Path:
    """A fresh copy of the repository, as ``actions/checkout`` makes it: what Git tracks, nothing it ignores."""
    shutil.rmtree(runner, ignore_errors=True)
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (runner / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, runner / name)
    return runner


class Runner:
    """Runs a job's steps in a checkout: pip installs the checkout for real (offline: the test's environment already
    holds the dependencies), fldecl commands run as written, steps that talk to GitHub are played by the test."""

    def __init__(self, checkout: Path, tools: Path, env: dict[str, str]) -> None:
        self.checkout, self.tools = checkout, tools
        self.env = {**env, "PATH": f"{tools / 'bin'}{os.pathsep}{env['PATH']}", "PYTHONPATH": str(tools)}
        self.outputs: list[subprocess.CompletedProcess[str]] = []

    def run_job(self, job: dict[str, Any], github: dict[str, Callable[[str], None]]) -> None:
        """Every step in order; ``github`` plays each step that talks to GitHub, by the step's name."""
        for step in job["steps"]:
            command = step.get("run")
            if command is None:
                assert step["uses"].split("@")[0] in ("actions/checkout", "actions/setup-python", "actions/upload-artifact")
            elif command.startswith("pip install"):
                self.install(command)
            elif "gh " in command:
                assert "GH_TOKEN" in step["env"]
                github[step["name"]](command)
            else:
                assert command.startswith("fldecl "), command
                self.outputs.append(self.shell(command))

    def install(self, command: str) -> None:
        """The step's own ``pip install``, into a directory of its own instead of the runner's Python."""
        args = shlex.split(command)[2:]
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target",
                        str(self.tools), *args], cwd=self.checkout, check=True, env={**os.environ, "PIP_NO_INDEX": "1"})

    def shell(self, command: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["bash", "-eo", "pipefail", "-c", command], cwd=self.checkout, env=self.env, capture_output=True,
                                text=True, timeout=600)
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
        return result


def test_the_workflow_plans_on_a_pull_request_and_applies_that_plan_on_merge(
        emulator: EmulatorServer, wml_env: dict[str, str], workflow: dict[str, Any], tmp_path: Path) -> None:
    assert workflow["permissions"]["pull-requests"] == "write"
    assert workflow["on"]["pull_request"]["paths"][0] == workflow["on"]["push"]["paths"][0] == "manifests/gitops-wml/**"
    plan_job, apply_job = workflow["jobs"]["plan"], workflow["jobs"]["apply"]
    env = {**cli_env(wml_env), "STACK": workflow["env"]["STACK"], "CI": "true", "NO_COLOR": "1"}
    env.pop("WML_USER_ID", None)
    assert all(name in workflow["env"] for name in ("WML_URL", "WML_APIKEY", "WML_PROJECT_ID"))
    runner_dir = tmp_path / "runner" / "work"  # every job of a CI runner checks out to the same place

    commands: dict[str, str] = {}
    artifact = tmp_path / "artifact.json"

    def comment(command: str) -> None:
        commands["comment"] = command

    def download(command: str) -> None:
        commands["download"] = command
        shutil.copy(artifact, runner_dir / "plan.json")

    github = {"Comment the plan (one comment, updated in place)": comment, "Download the plan reviewed on the pull request": download}

    pull_request = Runner(checkout(runner_dir), tmp_path / "tools-pr", env)
    pull_request.run_job(plan_job, github)
    assert "--edit-last" in commands["comment"] and "--body-file plan.md" in commands["comment"]
    review = (runner_dir / "plan.md").read_text()
    assert review.startswith("**Plan: 5 to create, 0 to update, 0 to replace, 0 to delete** (stack `gitops-wml`, backend `wml`)")
    assert "[!WARNING]" not in review and "private key" not in review  # CI holds no key and makes none
    assert '+ certificate  = "' in review  # the committed party certificates, checked and referenced by fingerprint
    shutil.copy(runner_dir / "plan.json", artifact)  # what upload-artifact keeps

    merge = Runner(checkout(runner_dir), tmp_path / "tools-merge", env)
    merge.run_job(apply_job, github)
    assert "gh run download" in commands["download"]
    assert "Apply complete! 5 created, 0 updated, 0 deleted." in merge.outputs[-1].stdout, merge.outputs[-1].stdout

    next_pull_request = Runner(checkout(runner_dir), tmp_path / "tools-next", env)
    next_pull_request.run_job(plan_job, github)
    review = (runner_dir / "plan.md").read_text()
    assert review.startswith("**Plan: 0 to create, 0 to update, 0 to replace, 0 to delete**"), review
    assert "No changes. The backend matches the manifests." in review
    assert next_pull_request.shell('fldecl plan "$STACK" --detailed-exitcode').returncode == 0

    # A stack that would make its keys on the runner says so, where the reviewer reads the plan.
    keys_in_ci = Runner(checkout(runner_dir), tmp_path / "tools-pr", {**env, "STACK": "manifests/mnist-fhe", "FLDECL_BACKEND": "wml"})
    keys_in_ci.run_job(plan_job, github)
    review = (runner_dir / "plan.md").read_text()
    assert "> [!WARNING]\n> applying this plan makes 4 private key(s) on the machine that runs it: pki/is_asym_v1.pem" in review
