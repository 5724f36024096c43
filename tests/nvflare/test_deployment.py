"""One real NVFlare server and two sites, from kits of a fresh CA, serve this module: the kits, and the jobs on it.

Kits from the stack's PKI: NVFlare's own scripts start the participants, mutual TLS admits only the stack's CA.
Jobs: the ownership tag in ``custom_props``, the retry-safe submit token. The jobs here carry no training and
require a site that never connects (``UNSCHEDULED``), so NVFlare never schedules them and starts no process for
them: what is tested is how fldecl finds, submits and deletes them. Both parts share the module's deployment (``running``),
which is what costs: a server, two sites and five RSA-4096 keys.
"""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from fldecl.core.contract import DeleteRequest, ProviderContext, ReadRequest
from fldecl.providers.nvflare import jobs
from fldecl.providers.nvflare.app.messages import ADMIN_CERTIFICATE_FILE, SERVER_CERTIFICATE_FILE
from fldecl.providers.nvflare.kits import APP_COMPONENTS
from fldecl.providers.nvflare.trainings import Trainings
from tests.nvflare.conftest import SITES, UNSCHEDULED, Running, Silent, make_authority

pytest.importorskip("nvflare", reason="the nvflare extra is not installed (pip install 'fldecl[nvflare]')")

pytestmark = pytest.mark.slow(seconds=60)
OWNER = "fldecl.stack.jobs-test"
NO_TRAINING = {"quorum_size": 1}


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
    for site in SITES:  # the identities of the CA that are no party, for which a site never seals a training's keys
        local = deployment.kit_dir(site) / "local"
        assert (local / SERVER_CERTIFICATE_FILE).read_bytes() == (deployment.kit_dir(deployment.settings.server_name) / "startup"
                                                                  / "server.crt").read_bytes()
        assert (local / ADMIN_CERTIFICATE_FILE).read_bytes() == (deployment.admin_kit / "startup" / "client.crt").read_bytes()


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


def context(running: Running, tmp_path: Path) -> ProviderContext:
    return ProviderContext("jobs-test", tmp_path, running.state_dir, OWNER, Silent())


def write(tmp_path: Path, name: str, tags: list[str], content: str = "initial") -> Path:
    return jobs.write_job(tmp_path / name, name, {**NO_TRAINING, "name": name}, UNSCHEDULED, content.encode(), tags, name,
                          {"rounds": 1})


def test_a_resubmitted_job_is_the_same_job_and_a_deleted_one_gets_a_new_token(running: Running, tmp_path: Path) -> None:
    folder = write(tmp_path, "twice", [OWNER])
    with running.deployment.session() as session:
        first = jobs.submit(session, folder, OWNER, "twice")
        assert jobs.submit(session, folder, OWNER, "twice") == first
        assert [job["job_id"] for job in jobs.owned_jobs(session, OWNER)] == [first]
        jobs.abort_and_delete(session, first)
        assert jobs.owned_jobs(session, OWNER) == []
        again = jobs.submit(session, folder, OWNER, "twice")
        assert again != first
        assert [job["job_id"] for job in jobs.owned_jobs(session, OWNER)] == [again]
        jobs.abort_and_delete(session, again)


def test_jobs_without_the_stacks_tag_are_never_read_or_deleted(running: Running, tmp_path: Path) -> None:
    trainings = Trainings(running.deployment, running.deployment_store(), lambda model_id: tmp_path / "unused")
    ctx = context(running, tmp_path)
    with running.deployment.session() as session:
        foreign = jobs.submit(session, write(tmp_path, "someone-elses", ["fldecl.stack.another"]), "fldecl.stack.another", "x")
        ours = jobs.submit(session, write(tmp_path, "ours", [OWNER]), OWNER, "ours")
    observed = trainings.read(ReadRequest(OWNER), ctx)
    assert [obs.id for obs in observed] == [ours]
    assert observed[0].name == "ours" and observed[0].attributes == {"rounds": 1}
    for obs in observed:
        trainings.delete(DeleteRequest(obs), ctx)
    assert trainings.read(ReadRequest(OWNER), ctx) == []
    with running.deployment.session() as session:
        assert foreign in {job["job_id"] for job in session.list_jobs()}
        jobs.abort_and_delete(session, foreign)


def test_a_job_state_in_fldecls_words() -> None:
    assert jobs.training_state("FINISHED:COMPLETED") == "completed"
    assert jobs.training_state("FINISHED:ABORTED") == "canceled"
    assert jobs.training_state("FINISHED:EXECUTION_EXCEPTION") == "failed"
    assert jobs.training_state("RUNNING") == "running"
    assert jobs.ownership({"custom_props": {"other": 1}}) is None


def test_signing_in_prints_nothing_of_nvflares(running: Running, capfd: pytest.CaptureFixture[str]) -> None:
    """NVFlare's admin client talks to a person at its console ("Connecting to FLARE ..."): none of that reaches fldecl's output."""
    running.deployment._close_session()  # sign in afresh
    with running.deployment.session() as session:
        assert session.get_connected_client_list()
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == "", captured
