"""Kits from the stack's PKI: NVFlare's own scripts start the participants, mutual TLS admits only the stack's CA."""

from __future__ import annotations

import json
import stat
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from fldecl.providers.nvflare.kits import APP_COMPONENTS
from tests.nvflare.conftest import SITES, Running, make_authority

pytest.importorskip("nvflare", reason="the nvflare extra is not installed (pip install 'fldecl[nvflare]')")


def test_every_kit_chains_to_the_stack_ca_with_rsa_4096_keys_owner_only(running: Running) -> None:
    deployment, ca = running.deployment, x509.load_pem_x509_certificate(running.authority.cert_file.read_bytes())
    kits = {deployment.settings.server_name: "server", deployment.settings.admin: "client", **dict.fromkeys(SITES, "client")}
    for participant, base in kits.items():
        startup = deployment.kit_dir(participant) / "startup"
        assert (startup / "rootCA.pem").read_bytes() == running.authority.cert_file.read_bytes()
        certificate = x509.load_pem_x509_certificate((startup / f"{base}.crt").read_bytes())
        certificate.verify_directly_issued_by(ca)
        public_key = certificate.public_key()
        assert isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size == 4096
        assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == participant
        assert stat.S_IMODE((startup / f"{base}.key").stat().st_mode) == 0o600
    admin = x509.load_pem_x509_certificate((deployment.admin_kit / "startup" / "client.crt").read_bytes())
    assert admin.subject.get_attributes_for_oid(NameOID.UNSTRUCTURED_NAME)[0].value == "project_admin"


def test_sites_allow_fldecls_app_and_the_server_keeps_its_jobs_in_its_kit(running: Running) -> None:
    deployment = running.deployment
    for participant in (deployment.settings.server_name, *SITES):
        resources = json.loads((deployment.kit_dir(participant) / "local" / "resources.json").read_text())
        assert APP_COMPONENTS in resources["class_allow_list"]
    server = json.loads((deployment.kit_dir(deployment.settings.server_name) / "local" / "resources.json").read_text())
    job_manager = next(component for component in server["components"] if component["id"] == "job_manager")
    assert job_manager["args"]["uri_root"].startswith(str(deployment.kit_dir(deployment.settings.server_name).resolve()))


def test_the_sites_started_from_their_kits_connect_over_mutual_tls(running: Running) -> None:
    assert running.deployment.connected_sites() == set(SITES)
    for site in SITES:
        assert running.deployment.running(site)
        client = json.loads((running.deployment.kit_dir(site) / "startup" / "fed_client.json").read_text())
        assert client["client"]["connection_security"] == "mtls"


def test_a_site_whose_certificate_comes_from_another_ca_is_refused(running: Running, tmp_path) -> None:
    deployment = running.deployment
    other = make_authority(tmp_path / "other", "another CA")
    key, cert = running.issue("intruder", tmp_path, other)
    deployment.build_client_kit("intruder", cert, key, running.authority.cert_file)
    deployment.start("intruder")
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert "intruder" not in (deployment.connected_sites() or set())
            time.sleep(2)
        assert deployment.connected_sites() == set(SITES)
    finally:
        deployment.stop("intruder")
    assert not deployment.running("intruder")
