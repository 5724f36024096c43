"""Destroy and plan tell the truth: kept key files are adopted on lines that say so, and --delete-files
removes the key, certificate and data files fldecl made, naming each."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import EXAMPLE, run_cli

PARTY = "RemoteTrainingSystem/Party_1"  # with its certificate, the CA and the data split: files, and no training


def made_files(stack: Path) -> list[str]:
    return sorted(str(path.relative_to(stack)) for folder in ("pki", "data") for path in (stack / folder).glob("*") if path.is_file())


def test_destroy_keeps_files_the_next_plan_adopts_them_and_delete_files_removes_them(tmp_path: Path) -> None:
    stack = tmp_path / "consortium"
    shutil.copytree(EXAMPLE, stack, ignore=shutil.ignore_patterns(".fldecl", "pki", "data"))
    applied = run_cli("apply", str(stack), "--auto-approve", "--target", PARTY)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    files = made_files(stack)
    assert files == ["data/data_party_1.npz", "data/data_party_2.npz", "data/data_party_3.npz", "pki/is_asym_v1.pem",
                     "pki/is_cert_v1.pem", "pki/sb_asym_v1_1.pem", "pki/sb_cert_v1_1.pem"]

    destroyed = run_cli("destroy", str(stack), "--auto-approve")
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    assert "Key, certificate and data files were kept (pass --delete-files to remove them)." in destroyed.stdout
    assert made_files(stack) == files

    planned = run_cli("plan", str(stack), "--target", PARTY, "--detailed-exitcode")
    assert planned.returncode == 2, planned.stdout + planned.stderr
    assert planned.stdout.startswith("Plan: 2 to create, 0 to update, 0 to replace, 0 to delete, 2 to adopt.")
    for address, key, cert in (("CertificateAuthority/issuer", "is_asym_v1.pem", "is_cert_v1.pem"),
                               ("PartyCertificate/party-1", "sb_asym_v1_1.pem", "sb_cert_v1_1.pem")):
        header = next(line for line in planned.stdout.splitlines() if line.startswith(f"  # {address} "))
        assert "will be adopted from the files kept in the stack (id " in header and f"found at pki/{key}, pki/{cert}" in header
        assert f" <= {address}" in planned.stdout
    assert "resource(s) unchanged" not in planned.stdout

    applied = run_cli("apply", str(stack), "--auto-approve", "--target", PARTY)
    assert applied.returncode == 0 and "2 created" in applied.stdout, applied.stdout + applied.stderr
    removed = run_cli("destroy", str(stack), "--auto-approve", "--delete-files")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert "CertificateAuthority/issuer: removed pki/is_asym_v1.pem, pki/is_cert_v1.pem" in removed.stdout
    assert "PartyCertificate/party-1: removed pki/sb_asym_v1_1.pem, pki/sb_cert_v1_1.pem" in removed.stdout
    assert "DataSplit/digits: removed data/data_party_1.npz, data/data_party_2.npz, data/data_party_3.npz" in removed.stdout
    assert made_files(stack) == [] and "were kept" not in removed.stdout
    assert run_cli("plan", str(stack), "--target", PARTY).stdout.startswith("Plan: 4 to create, 0 to update, 0 to replace, 0 to delete.")


def test_the_old_flag_name_still_deletes_the_files(tmp_path: Path) -> None:
    stack = tmp_path / "consortium"
    shutil.copytree(EXAMPLE, stack, ignore=shutil.ignore_patterns(".fldecl", "pki", "data"))
    assert run_cli("apply", str(stack), "--auto-approve", "--target", "PartyCertificate/party-1").returncode == 0
    removed = run_cli("destroy", str(stack), "--auto-approve", "--delete-key-files")
    assert removed.returncode == 0 and made_files(stack) == [], removed.stdout + removed.stderr


def test_records_kept_before_backends_had_their_own_are_carried_over(tmp_path: Path) -> None:
    stack = tmp_path / "consortium"
    shutil.copytree(EXAMPLE, stack, ignore=shutil.ignore_patterns(".fldecl", "pki", "data"))
    assert run_cli("apply", str(stack), "--auto-approve", "--target", "PartyCertificate/party-1").returncode == 0
    state = stack / ".fldecl"
    (state / "local" / "workspace.db").rename(state / "workspace.db")  # where every backend's records were kept together
    planned = run_cli("plan", str(stack), "--target", "PartyCertificate/party-1", "--detailed-exitcode")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert (state / "local" / "workspace.db").is_file()
