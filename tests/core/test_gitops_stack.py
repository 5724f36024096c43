"""The GitOps example keeps private keys out of CI: its CA and party certificates are committed public
files, checked on every plan, and what only a key's owner can make is refused with who must make it."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import ROOT, run_cli

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
