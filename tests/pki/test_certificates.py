"""The CA and party certificates fldecl makes meet the WML HE party rules and chain correctly."""

from __future__ import annotations

import ipaddress
import json
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from fldecl.pki import (
    PKIError,
    Subject,
    issue_certificate,
    load_certificate,
    load_private_key,
    public_key_from_certificate,
    verify_chain,
)

from .conftest import PARTY_ALT_NAMES, PKCS8_BEGIN, Issued


def _assert_key_file_follows_rules(key_path: Path) -> None:
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    pem = key_path.read_bytes()
    assert pem.startswith(PKCS8_BEGIN)  # unencrypted PKCS#8 PEM
    key = load_private_key(key_path)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 4096
    assert key.public_key().public_numbers().e == 65537


def test_ca_follows_the_rules(ca: Issued) -> None:
    facts = ca.facts
    assert facts.problems == []
    assert facts.is_ca is True
    assert (facts.key_size, facts.public_exponent, facts.signature_hash) == (4096, 65537, "SHA256")
    assert facts.subject == {"organization": "IBM", "common_name": "fldecl test CA"}
    assert facts.issuer == facts.subject
    assert facts.subject_alt_names == ["localhost"]
    assert (facts.key_file_mode, facts.key_encrypted, facts.key_matches_cert, facts.chain_ok) == (0o600, False, True, True)
    assert 999 < facts.days_left() <= 1000
    assert ca.cert_path.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----\n")
    _assert_key_file_follows_rules(ca.key_path)


def test_ca_extensions(ca: Issued) -> None:
    cert = load_certificate(ca.cert_path)
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())


def test_party_certificate_follows_the_rules(party: Issued) -> None:
    facts = party.facts
    assert facts.problems == []
    assert facts.is_ca is False
    assert (facts.key_size, facts.public_exponent, facts.signature_hash) == (4096, 65537, "SHA256")
    assert facts.subject == {"organization": "IBM", "common_name": "Party_1"}
    assert facts.issuer == {"organization": "IBM", "common_name": "fldecl test CA"}
    assert facts.subject_alt_names == PARTY_ALT_NAMES
    assert (facts.key_file_mode, facts.key_encrypted, facts.key_matches_cert, facts.chain_ok) == (0o600, False, True, True)
    assert 364 < facts.days_left() <= 365
    _assert_key_file_follows_rules(party.key_path)


def test_party_certificate_extensions(ca: Issued, party: Issued) -> None:
    cert = load_certificate(party.cert_path)
    ca_cert = load_certificate(ca.cert_path)
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    alt_names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert alt_names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert alt_names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ca_ski.digest


def test_party_certificate_verifies_against_its_ca(ca: Issued, party: Issued) -> None:
    verify_chain(load_certificate(party.cert_path), load_certificate(ca.cert_path))
    party_public_key = public_key_from_certificate(load_certificate(party.cert_path))
    assert party_public_key.public_numbers() == load_private_key(party.key_path).public_key().public_numbers()


def test_verify_chain_names_both_parties_for_a_foreign_certificate(ca: Issued, foreign_party: Issued) -> None:
    with pytest.raises(PKIError, match="^certificate for CN=Party_X is not issued by CA CN=fldecl test CA$"):
        verify_chain(load_certificate(foreign_party.cert_path), load_certificate(ca.cert_path))


def test_verify_chain_rejects_expired_and_not_yet_valid(ca: Issued, party: Issued) -> None:
    cert, ca_cert = load_certificate(party.cert_path), load_certificate(ca.cert_path)
    after_expiry = cert.not_valid_after_utc + timedelta(days=1)
    with pytest.raises(PKIError, match=r"certificate for CN=Party_1 expired on \d{4}-\d\d-\d\d"):
        verify_chain(cert, ca_cert, now=after_expiry)
    with pytest.raises(PKIError, match="certificate for CN=Party_1 is not yet valid"):
        verify_chain(cert, ca_cert, now=cert.not_valid_before_utc - timedelta(days=1))


def test_issue_refuses_a_non_ca_issuer(party: Issued, tmp_path: Path) -> None:
    with pytest.raises(PKIError, match="is not a CA certificate"):
        issue_certificate(
            party.key_path, party.cert_path, Subject("Party_2"), [], 30, tmp_path / "k.pem", tmp_path / "c.pem"
        )
    assert list(tmp_path.iterdir()) == []


def test_issue_refuses_a_ca_key_that_does_not_match(ca: Issued, party: Issued, tmp_path: Path) -> None:
    with pytest.raises(PKIError, match="does not match CA certificate"):
        issue_certificate(
            party.key_path, ca.cert_path, Subject("Party_2"), [], 30, tmp_path / "k.pem", tmp_path / "c.pem"
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("alt_names", "validity_days", "message"),
    [
        (["bad name "], 30, "invalid subject alternative name 'bad name '"),
        (["bücher.example"], 30, "must be ASCII"),
        (["localhost"], 0, "validity_days must be at least 1"),
    ],
)
def test_issue_rejects_bad_input_before_generating_a_key(
    ca: Issued, tmp_path: Path, alt_names: list[str], validity_days: int, message: str
) -> None:
    with pytest.raises(PKIError, match=message):
        issue_certificate(
            ca.key_path, ca.cert_path, Subject("P"), alt_names, validity_days, tmp_path / "k.pem", tmp_path / "c.pem"
        )
    assert list(tmp_path.iterdir()) == []


def test_subject_round_trips_manifest_keys() -> None:
    manifest = {"common_name": "Party_1", "organization": "IBM", "country": "US"}
    subject = Subject.from_dict(manifest)
    assert subject == Subject("Party_1", organization="IBM", country="US")
    assert subject.to_dict() == manifest
    assert subject.to_x509_name().rfc4514_string() == "CN=Party_1,O=IBM,C=US"


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ({"common_name": "P", "email": "x@example.com"}, "unknown subject field"),
        ({"organization": "IBM"}, "needs a common_name"),
        ({"common_name": ""}, "non-empty common_name"),
        ({"common_name": "P", "country": "USA"}, "two-letter code"),
    ],
)
def test_subject_rejects_bad_manifests(manifest: dict[str, str], message: str) -> None:
    with pytest.raises(PKIError, match=message):
        Subject.from_dict(manifest)


def test_facts_serialise_for_show(party: Issued) -> None:
    facts = party.facts.to_dict()
    assert json.loads(json.dumps(facts)) == facts
    assert facts["key_file_mode"] == "0600"
    assert datetime.fromisoformat(facts["not_after"]) == party.facts.not_after
    assert len(facts["fingerprint_sha256"]) == 64


def test_days_left_goes_negative_after_expiry(party: Issued) -> None:
    later = party.facts.not_after + timedelta(days=2)
    assert party.facts.days_left(now=later) == pytest.approx(-2)
    naive_utc = later.astimezone(timezone.utc).replace(tzinfo=None)
    assert party.facts.days_left(now=naive_utc) == pytest.approx(-2)
