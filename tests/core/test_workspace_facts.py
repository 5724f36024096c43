"""Certificates and data files are re-inspected on every plan: drift plans a replacement, with the reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import run_cli
from tests.core.stacks import write_stack

DATA_SPLIT = """\
apiVersion: fldecl/v1
kind: DataSplit
metadata: {name: digits}
spec:
  source: {dataset: sklearn_digits}
  parties: 2
  points_per_party: 50
  output: data/party_{index}.npz
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = write_stack(tmp_path_factory.mktemp("facts") / "stack", model=False, parties=1)
    (directory / "data.yaml").write_text(DATA_SPLIT)
    assert run_cli("apply", str(directory), "--auto-approve").returncode == 0
    return directory


def reasons(stack: Path) -> dict[str, tuple[list[str], list[str]]]:
    document = json.loads(run_cli("plan", str(stack), "--json").stdout)
    return {c["address"]: (c["change"]["actions"], c["reasons"]) for c in document["resource_changes"]}


def test_certificate_inside_its_renewal_window_is_renewed(stack: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fldecl.cli.session import load, reconciler
    from fldecl.pki import CertFacts

    monkeypatch.setattr(CertFacts, "days_left", lambda self, now=None: 12.0)
    plan = reconciler(load(stack)).plan()
    change = next(c for c in plan.changes if c.address == "PartyCertificate/party-1")
    assert change.actions == ["delete", "create"]
    assert "certificate expires in 12 days (renewal window: 30 days)" in change.reasons


def test_a_key_that_breaks_the_rules_is_replaced(stack: Path) -> None:
    key_file = stack / "pki" / "party-1-key.pem"
    original = key_file.read_bytes()
    weak = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file.write_bytes(weak.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    try:
        actions, why = reasons(stack)["PartyCertificate/party-1"]
        assert actions == ["delete", "create"]
        assert any("key" in reason for reason in why), why
    finally:
        key_file.write_bytes(original)
    assert reasons(stack)["PartyCertificate/party-1"][0] == ["no-op"]


def test_changed_or_missing_data_files_are_made_again(stack: Path) -> None:
    target = stack / "data" / "party_2.npz"
    original = target.read_bytes()
    target.write_bytes(b"not the split")
    try:
        assert reasons(stack)["DataSplit/digits"] == (["delete", "create"], ["output files changed outside fldecl"])
    finally:
        target.write_bytes(original)
    target.unlink()
    actions, why = reasons(stack)["DataSplit/digits"]
    assert actions == ["delete", "create"] and why == ["output files missing: party_2.npz"]
    assert run_cli("apply", str(stack), "--auto-approve").returncode == 0
    assert target.read_bytes() == original


def test_a_no_op_plan_parses_no_unchanged_file_again(stack: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fldecl.cli.session import load, reconciler
    from fldecl.pki import inspection

    reconciler(load(stack)).plan()  # the first plan after an apply records what it inspects
    inspected: list[Path] = []
    inspect = inspection.inspect
    monkeypatch.setattr(inspection, "inspect", lambda cert, *args, **kwargs: inspected.append(cert) or inspect(cert, *args, **kwargs))
    assert not reconciler(load(stack)).plan().has_changes
    assert inspected == [], "the files have the digests of their last inspection: its record is read instead"


def test_expiry_is_judged_at_the_time_of_the_plan_even_from_the_record(stack: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import datetime, timedelta, timezone

    from fldecl.cli.session import load, reconciler
    from fldecl.pki import facts

    later = datetime.now(timezone.utc) + timedelta(days=400)
    monkeypatch.setattr(facts, "utc_now_or", lambda now: later)
    plan = reconciler(load(stack)).plan()
    change = next(c for c in plan.changes if c.address == "PartyCertificate/party-1")
    assert change.actions == ["delete", "create"]
    assert any("certificate for CN=Party_1 expired on" in reason for reason in change.reasons), change.reasons


def test_a_changed_key_file_is_checked_in_full_again(stack: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fldecl.cli.session import load, reconciler
    from fldecl.pki import inspection

    key_file = stack / "pki" / "party-1-key.pem"
    original = key_file.read_bytes()
    checks: list[bool] = []
    loader = inspection.load_private_key
    monkeypatch.setattr(inspection, "load_private_key",
                        lambda path, validate=True: checks.append(validate) or loader(path, validate=validate))
    key_file.write_bytes(original.replace(b"\n", b"\r\n"))  # the same key in other bytes
    try:
        assert not reconciler(load(stack)).plan().has_changes
        assert checks == [True]
    finally:
        key_file.write_bytes(original)


def test_a_changed_key_file_gets_the_full_check_again(stack: Path) -> None:
    key_file = stack / "pki" / "party-1-key.pem"
    original = key_file.read_bytes()
    key = serialization.load_pem_private_key(original, password=None)
    numbers = key.private_numbers()
    broken = rsa.RSAPrivateNumbers(numbers.p, numbers.q, numbers.d + 2, numbers.dmp1, numbers.dmq1, numbers.iqmp,
                                   numbers.public_numbers).private_key(unsafe_skip_rsa_key_validation=True)
    key_file.write_bytes(broken.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    try:
        actions, why = reasons(stack)["PartyCertificate/party-1"]
        assert actions == ["delete", "create"], "same public key, inconsistent private key: the full check must catch it"
        assert any("party-1-key.pem" in reason for reason in why), why
    finally:
        key_file.write_bytes(original)
    assert reasons(stack)["PartyCertificate/party-1"][0] == ["no-op"]


def test_a_lost_store_finds_the_keys_where_they_are_and_plans_nothing_for_the_pki(tmp_path: Path) -> None:
    stack = write_stack(tmp_path / "stack", model=False, parties=1)
    assert run_cli("apply", str(stack), "--auto-approve").returncode == 0
    keys = {path: path.read_bytes() for path in (stack / "pki").iterdir()}
    (stack / ".fldecl" / "local" / "workspace.db").unlink()
    plan = reasons(stack)
    assert plan["CertificateAuthority/issuer"][0] == ["no-op"] and plan["PartyCertificate/party-1"][0] == ["no-op"]
    assert run_cli("plan", str(stack), "--detailed-exitcode").returncode == 0
    assert {path: path.read_bytes() for path in (stack / "pki").iterdir()} == keys


def test_a_valid_ca_made_before_the_first_apply_is_used(tmp_path: Path) -> None:
    from fldecl.pki import Subject, create_ca

    stack = write_stack(tmp_path / "stack", model=False, parties=1)
    create_ca(Subject(common_name="test issuer"), 1000, stack / "pki" / "ca-key.pem", stack / "pki" / "ca-cert.pem")
    ca_key = (stack / "pki" / "ca-key.pem").read_bytes()
    plan = reasons(stack)
    assert plan["CertificateAuthority/issuer"][0] == ["no-op"] and plan["PartyCertificate/party-1"][0] == ["create"]
    assert run_cli("apply", str(stack), "--auto-approve").returncode == 0
    assert (stack / "pki" / "ca-key.pem").read_bytes() == ca_key
    assert run_cli("plan", str(stack), "--detailed-exitcode").returncode == 0


def test_found_keys_that_cannot_be_used_are_shown_replaced_with_the_reason(tmp_path: Path) -> None:
    from fldecl.pki import Subject, create_ca

    stack = write_stack(tmp_path / "stack", model=False, parties=1)
    create_ca(Subject(common_name="someone else's CA"), 1000, stack / "pki" / "ca-key.pem", stack / "pki" / "ca-cert.pem")
    actions, why = reasons(stack)["CertificateAuthority/issuer"]
    assert actions == ["delete", "create"]
    assert why == ["the files found at pki/ca-key.pem, pki/ca-cert.pem cannot be used (its subject has "
                   "common_name=\"someone else's CA\", not the declared 'test issuer'): apply makes new ones and sets these aside"]
    refused = run_cli("apply", str(stack))
    assert refused.returncode == 1 and "refusing to apply without approval" in refused.stderr
