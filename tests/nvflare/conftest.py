"""A real NVFlare deployment for the tests: a server and two client sites on 127.0.0.1, from kits of a fresh CA.

Ports are free ones the OS picks; every process the fixture starts is stopped at the end. Each test
module skips itself when the nvflare extra is not installed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fldecl import pki
from fldecl.providers.nvflare.deployment import Authority, Deployment
from fldecl.providers.nvflare.settings import NvflareSettings
from fldecl.providers.store import ResourceStore

SITES = ("site-1", "site-2")


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


def make_authority(directory: Path, name: str = "test CA") -> Authority:
    directory.mkdir(parents=True, exist_ok=True)
    key, cert = directory / "ca.key", directory / "ca.crt"
    pki.create_ca(pki.Subject(common_name=name, organization="test"), 30, key, cert)
    return Authority(key, cert)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    root = tmp_path_factory.mktemp("nvflare")
    authority = make_authority(root / "pki")
    deployment = Deployment(root / ".fldecl", NvflareSettings())
    started = [deployment.settings.server_name]
    try:
        deployment.ensure_server_kits(authority)
        deployment.start(deployment.settings.server_name)
        deployment.wait_for_server()
        setup = Running(deployment, authority, root / ".fldecl")
        for site in SITES:
            key, cert = setup.issue(site, root / "pki")
            deployment.build_client_kit(site, cert, key, authority.cert_file)
            deployment.start(site)
            started.append(site)
        for site in SITES:
            deployment.wait_for_site(site)
        yield setup
    finally:
        for participant in reversed(started):
            deployment.stop(participant)
