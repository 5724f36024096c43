"""The GitOps example keeps private keys out of CI: its CA and party certificates are committed public
files, checked on every plan, and what only a key's owner can make is refused with who must make it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import ROOT, run_cli
from tests.core.stacks import certificate_authority, documents, party_certificate, stack_document

GITOPS = ROOT / "manifests" / "gitops-wml"


def test_the_committed_certificates_are_used_and_no_key_is_made(tmp_path: Path) -> None:
    stack = tmp_path / "gitops"
    shutil.copytree(GITOPS, stack, ignore=shutil.ignore_patterns(".fldecl"))
    assert not [path for path in stack.rglob("*.pem") if "key" in path.name or "asym" in path.name]
    planned = run_cli("plan", str(stack), "--backend", "local", "--target", "PartyCertificate/party-3")
    assert planned.returncode == 0, planned.stderr
    assert planned.stdout.startswith("Plan: 0 to create, 0 to update, 0 to replace, 0 to delete.")
    assert "Warning" not in planned.stdout and "2 resource(s) unchanged." in planned.stdout

    (stack / "pki" / "party-3-cert.pem").unlink()
    shutil.rmtree(stack / ".fldecl")
    refused = run_cli("apply", str(stack), "--backend", "local", "--auto-approve", "--target", "PartyCertificate/party-3")
    assert refused.returncode == 1
    assert ("PartyCertificate/party-3: pki/party-3-cert.pem is missing or unusable, and only the owner of CertificateAuthority/issuer's "
            "key can issue it: have them sign pki/party-3.csr and commit the certificate") in refused.stdout + refused.stderr
    assert not (stack / "pki" / "party-3-cert.pem").exists()


CA_OWNER = documents(stack_document("ca-owner"),
                     certificate_authority(subject="{common_name: fldecl GitOps example CA, organization: IBM}", validity_days=3650),
                     party_certificate(csr=True, validity_days=3650))


def test_the_ca_owner_issues_with_fldecl_and_ci_takes_the_committed_certificates(tmp_path: Path) -> None:
    """The CA's owner keeps a private stack with the CA's key, signs a party's CSR there, and commits the
    certificates: the GitOps stack then uses them as they are, and holds no key."""
    owner, stack = tmp_path / "ca-owner", tmp_path / "gitops"
    shutil.copytree(GITOPS, stack, ignore=shutil.ignore_patterns(".fldecl"))
    owner.mkdir()
    (owner / "stack.yaml").write_text(CA_OWNER)
    shutil.copy(stack / "pki" / "party-1.csr", owner / "party-1.csr")  # what the party sent
    issued = run_cli("apply", str(owner), "--auto-approve")
    assert issued.returncode == 0, issued.stdout + issued.stderr
    for name in ("ca-cert.pem", "party-1-cert.pem"):  # the commit: public files only
        shutil.copy(owner / "pki" / name, stack / "pki" / name)
    planned = run_cli("plan", str(stack), "--backend", "local", "--target", "PartyCertificate/party-1", "--json")
    assert planned.returncode == 0, planned.stderr
    changes = {c["address"]: c["change"]["actions"] for c in json.loads(planned.stdout)["resource_changes"]}
    assert changes == {"CertificateAuthority/issuer": ["no-op"], "PartyCertificate/party-1": ["no-op"]}
    assert not list((stack / "pki").glob("*key*"))
