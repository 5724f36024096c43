"""A real NVFlare deployment for the tests: a server and two client sites on 127.0.0.1, from kits of a fresh CA.

Ports are free ones the OS picks; every process the fixture starts is stopped at the end. Each test
module skips itself when the nvflare extra is not installed.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fldecl import pki
from fldecl.core.contract import ProviderContext, ReadRequest
from fldecl.kinds.training_run import TrainingProgress, progress_of
from fldecl.providers.nvflare import jobs
from fldecl.providers.nvflare.deployment import Authority, Deployment
from fldecl.providers.nvflare.settings import NvflareSettings
from fldecl.providers.nvflare.trainings import Trainings
from fldecl.providers.store import ResourceStore
from fldecl.vocabulary import TERMINAL_STATES

SITES = ("site-1", "site-2")
#: The parties of a job NVFlare never schedules: a required site that never connects (a job with no site is refused).
UNSCHEDULED = [jobs.JobParty("absent", "absent-site", True, "")]


@dataclass
class Running:
    """The deployment, the CA its kits come from, and the state directory it lives in."""

    deployment: Deployment
    authority: Authority
    state_dir: Path

    def deployment_store(self) -> ResourceStore:
        return ResourceStore(self.state_dir / "nvflare.db")

    def issue(self, name: str, directory: Path, authority: Authority | None = None) -> tuple[Path, Path]:
        """A party key and certificate (RSA 4096) from ``authority`` (the deployment's CA by default)."""
        issuer = authority or self.authority
        key, cert = directory / f"{name}.key", directory / f"{name}.crt"
        pki.issue_certificate(issuer.key_file, issuer.cert_file, pki.Subject(common_name=name, organization="test"), [], 30, key, cert)
        return key, cert


class Silent:
    """A reporter for provider calls made by tests: progress lines are not what they check."""

    def progress(self, address: str, message: str) -> None:
        pass


def make_authority(directory: Path, name: str = "test CA") -> Authority:
    directory.mkdir(parents=True, exist_ok=True)
    key, cert = directory / "ca.key", directory / "ca.crt"
    pki.create_ca(pki.Subject(common_name=name, organization="test"), 30, key, cert)
    return Authority(key, cert)


@dataclass(frozen=True)
class SiteToRun:
    """A client site: its name (its certificate's common name), certificate, key, and the settings of the party it runs."""

    name: str
    cert_file: Path
    key_file: Path
    party_settings: dict[str, Any] | None = None


@contextlib.contextmanager
def deployed(state_dir: Path, authority: Authority, sites: list[SiteToRun]) -> Iterator[Deployment]:
    """A server and ``sites`` started from kits of ``authority``, all connected; every process stopped at the end."""
    deployment = Deployment(state_dir, NvflareSettings())
    started = [deployment.settings.server_name]
    try:
        deployment.ensure_server_kits(authority)
        deployment.start(deployment.settings.server_name)
        deployment.wait_for_server()
        for site in sites:
            deployment.build_client_kit(site.name, site.cert_file, site.key_file, authority.cert_file, site.party_settings)
            deployment.start(site.name)
            started.append(site.name)
        for site in sites:
            deployment.wait_for_site(site.name)
        yield deployment
    finally:
        for participant in reversed(started):
            deployment.stop(participant)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    root = tmp_path_factory.mktemp("nvflare")
    authority = make_authority(root / "pki")
    issuer = Running(Deployment(root / ".fldecl", NvflareSettings()), authority, root / ".fldecl")
    sites = []
    for site in SITES:
        key, cert = issuer.issue(site, root / "pki")
        sites.append(SiteToRun(site, cert, key))
    with deployed(root / ".fldecl", authority, sites) as deployment:
        yield Running(deployment, authority, root / ".fldecl")


def trainings_of(deployment: Deployment) -> Trainings:
    """The Training resource type over ``deployment`` and the records beside it, as a plan reads it (no model is stored)."""
    return Trainings(deployment, ResourceStore(deployment.root.parent / "nvflare.db"), lambda model_id: Path("unused"))


def ended_training(deployment: Deployment, context: ProviderContext, within: float, job_id: str | None = None,
                   ended: Callable[[TrainingProgress], bool] = lambda progress: progress.state in TERMINAL_STATES) -> TrainingProgress:
    """The progress of the stack's training (``job_id``, else its only one), as a plan reads it, once it has ``ended``;
    fails if that takes longer than ``within`` seconds."""
    trainings, deadline = trainings_of(deployment), time.monotonic() + within
    while True:
        (observed,) = [obs for obs in trainings.read(ReadRequest(context.owner_tag), context) if job_id in (None, obs.id)]
        progress = progress_of(observed)
        assert progress is not None
        if ended(progress):
            return progress
        assert time.monotonic() < deadline, f"training {observed.id} has not ended after {within:.0f} s"
        time.sleep(2)
