"""Signing a party's own CSR: the private key stays with the party, weak or forged CSRs are refused."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fldecl.pki import PKIError, Subject, generate_csr, inspect, load_csr, sign_csr

from .conftest import Issued


@pytest.fixture(scope="module")
def party_csr(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A CSR made on the party's side, asking for SANs of its own."""
    directory = tmp_path_factory.mktemp("csr")
    key_path, csr_path = directory / "sb_asym_v1_2.pem", directory / "sb_csr_v1_2.pem"
    generate_csr(Subject("Party_2", organization="IBM", country="US"), key_path, csr_path, ["party2.example"])
    return key_path, csr_path


def test_generate_csr_writes_an_owner_only_key_and_a_signed_request(party_csr: tuple[Path, Path]) -> None:
    key_path, csr_path = party_csr
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    csr = load_csr(csr_path)
    assert csr.is_signature_valid
    assert csr.signature_hash_algorithm.name == "sha256"
    assert csr.public_key().key_size == 4096
    assert csr.subject.rfc4514_string() == "CN=Party_2,O=IBM,C=US"


def test_signed_csr_keeps_the_requested_names(ca: Issued, party_csr: tuple[Path, Path], tmp_path: Path) -> None:
    key_path, csr_path = party_csr
    cert_path = tmp_path / "sb_cert_v1_2.pem"
    facts = sign_csr(ca.key_path, ca.cert_path, csr_path, None, 365, cert_path)
    assert facts.problems == []
    assert facts.chain_ok is True
    assert facts.subject == {"country": "US", "organization": "IBM", "common_name": "Party_2"}
    assert facts.subject_alt_names == ["party2.example"]
    # The party's own key, which fldecl never read, matches the certificate.
    assert inspect(cert_path, key_path, ca.cert_path).key_matches_cert is True


def test_given_names_replace_the_requested_ones(ca: Issued, party_csr: tuple[Path, Path], tmp_path: Path) -> None:
    _, csr_path = party_csr
    facts = sign_csr(ca.key_path, ca.cert_path, csr_path, ["localhost", "127.0.0.1"], 30, tmp_path / "cert.pem")
    assert facts.subject_alt_names == ["localhost", "127.0.0.1"]
    assert 29 < facts.days_left() <= 30


def _write_csr(path: Path, key: rsa.RSAPrivateKey) -> Path:
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "weak party")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    return path


def test_a_csr_with_a_2048_bit_key_is_refused(ca: Issued, tmp_path: Path) -> None:
    csr_path = _write_csr(tmp_path / "weak.csr", rsa.generate_private_key(public_exponent=65537, key_size=2048))
    with pytest.raises(PKIError, match=r"^CSR .*weak.csr is refused: key is 2048-bit; 4096 required$"):
        sign_csr(ca.key_path, ca.cert_path, csr_path, None, 365, tmp_path / "cert.pem")
    assert not (tmp_path / "cert.pem").exists()


def test_a_csr_with_a_broken_signature_is_refused(ca: Issued, party_csr: tuple[Path, Path], tmp_path: Path) -> None:
    der = bytearray(load_csr(party_csr[1]).public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0xFF  # the last byte belongs to the signature
    tampered = x509.load_der_x509_csr(bytes(der))
    csr_path = tmp_path / "tampered.csr"
    csr_path.write_bytes(tampered.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(PKIError, match="has an invalid signature"):
        sign_csr(ca.key_path, ca.cert_path, csr_path, None, 365, tmp_path / "cert.pem")
    assert not (tmp_path / "cert.pem").exists()
