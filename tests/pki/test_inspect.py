"""``inspect`` reports every rule the files break instead of raising, and raises only for unreadable files."""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fldecl.pki import PKIError, inspect, load_certificate, load_private_key

from .conftest import PKCS8_BEGIN, PKCS8_END, ForgeCertificate, Issued


def test_a_2048_bit_key_is_reported(ca: Issued, forge_certificate: ForgeCertificate, tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert_path = forge_certificate(tmp_path / "cert.pem", key.public_key())
    facts = inspect(cert_path, ca_cert_path=ca.cert_path)
    assert facts.key_size == 2048
    assert facts.chain_ok is True
    assert facts.problems == ["key is 2048-bit; 4096 required"]


def test_a_wrong_public_exponent_is_reported(ca: Issued, forge_certificate: ForgeCertificate, tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=3, key_size=4096)
    cert_path = forge_certificate(tmp_path / "cert.pem", key.public_key())
    facts = inspect(cert_path, ca_cert_path=ca.cert_path)
    assert facts.public_exponent == 3
    assert facts.problems == ["public exponent is 3; 65537 required"]


def test_a_sha1_signature_is_reported(
    ca: Issued, party: Issued, forge_certificate: ForgeCertificate, tmp_path: Path
) -> None:
    public_key = load_private_key(party.key_path).public_key()
    cert_path = forge_certificate(tmp_path / "cert.pem", public_key, sha1=True)
    facts = inspect(cert_path, ca_cert_path=ca.cert_path)
    assert facts.signature_hash == "SHA1"
    assert facts.chain_ok is True  # still the right CA: the hash is the one problem
    assert facts.problems == ["certificate is signed with SHA1; SHA256 required"]


def test_an_expired_certificate_is_reported(
    ca: Issued, party: Issued, forge_certificate: ForgeCertificate, tmp_path: Path
) -> None:
    now = datetime.now(timezone.utc)
    public_key = load_private_key(party.key_path).public_key()
    cert_path = forge_certificate(
        tmp_path / "cert.pem", public_key, not_before=now - timedelta(days=30), not_after=now - timedelta(days=1)
    )
    facts = inspect(cert_path, ca_cert_path=ca.cert_path)
    assert facts.days_left() < 0
    assert facts.chain_ok is False
    assert len(facts.problems) == 1
    assert facts.problems[0].startswith("certificate for CN=forged expired on ")


def test_a_certificate_checked_in_the_future_is_reported_expired(ca: Issued, party: Issued) -> None:
    facts = inspect(party.cert_path, party.key_path, ca.cert_path, now=party.facts.not_after + timedelta(seconds=1))
    assert facts.chain_ok is False
    assert facts.problems == [f"certificate for CN=Party_1 expired on {party.facts.not_after:%Y-%m-%d %H:%M:%S} UTC"]


def test_an_encrypted_key_is_reported(party: Issued, tmp_path: Path) -> None:
    key = load_private_key(party.key_path)
    encrypted_path = tmp_path / "encrypted.pem"
    encrypted_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"a password"),
        )
    )
    encrypted_path.chmod(0o600)
    facts = inspect(party.cert_path, encrypted_path)
    assert (facts.key_encrypted, facts.key_matches_cert) == (True, None)
    assert facts.problems == [
        f"private key {encrypted_path} is encrypted with a password; the parties need an unencrypted key"
    ]


def test_a_key_that_does_not_match_its_certificate_is_reported(ca: Issued, party: Issued) -> None:
    facts = inspect(party.cert_path, ca.key_path, ca.cert_path)
    assert facts.key_matches_cert is False
    assert facts.problems == [f"private key {ca.key_path} does not match the certificate's public key"]


def test_a_key_readable_by_others_is_reported(party: Issued, tmp_path: Path) -> None:
    readable_key = tmp_path / "key.pem"
    shutil.copyfile(party.key_path, readable_key)
    readable_key.chmod(0o644)
    facts = inspect(party.cert_path, readable_key)
    assert facts.key_file_mode == 0o644
    assert facts.problems == [f"private key {readable_key} has mode 0644; 0600 required"]


def test_a_certificate_from_another_ca_is_reported(ca: Issued, foreign_party: Issued) -> None:
    facts = inspect(foreign_party.cert_path, foreign_party.key_path, ca.cert_path)
    assert facts.chain_ok is False
    assert facts.key_matches_cert is True
    assert facts.problems == ["certificate for CN=Party_X is not issued by CA CN=fldecl test CA"]


def test_a_party_certificate_is_not_a_ca(ca: Issued, party: Issued) -> None:
    facts = inspect(ca.cert_path, ca_cert_path=party.cert_path)
    assert facts.chain_ok is False
    assert facts.problems == ["CA certificate CN=Party_1 is not a CA certificate (BasicConstraints ca=true missing)"]


def test_without_key_or_ca_those_facts_are_unknown(party: Issued) -> None:
    facts = inspect(party.cert_path)
    assert (facts.key_file_mode, facts.key_encrypted, facts.key_matches_cert, facts.chain_ok) == (None,) * 4
    assert facts.problems == []


def test_missing_files_raise_with_the_file_name(party: Issued, tmp_path: Path) -> None:
    missing = tmp_path / "sb_cert_v1_9.pem"
    with pytest.raises(PKIError, match=f"^certificate {missing} does not exist$"):
        inspect(missing)
    with pytest.raises(PKIError, match="private key .*nothing.pem does not exist"):
        inspect(party.cert_path, tmp_path / "nothing.pem")


def test_unparseable_files_raise_without_echoing_their_content(party: Issued, tmp_path: Path) -> None:
    broken_key = tmp_path / "broken.pem"
    broken_key.write_bytes(PKCS8_BEGIN + b"TOPSECRETMATERIAL\n" + PKCS8_END)
    os.chmod(broken_key, 0o600)
    with pytest.raises(PKIError) as raised:
        inspect(party.cert_path, broken_key)
    assert str(raised.value) == f"private key {broken_key} is not a readable PEM private key"
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_a_der_certificate_is_named_as_such(party: Issued, tmp_path: Path) -> None:
    der_path = tmp_path / "cert.der"
    der_path.write_bytes(load_certificate(party.cert_path).public_bytes(serialization.Encoding.DER))
    with pytest.raises(PKIError, match="is DER-encoded; PEM required"):
        inspect(der_path)
