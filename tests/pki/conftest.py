"""One small PKI shared by all PKI tests: RSA-4096 generation is slow, so keys are made once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import NameOID

from fldecl.pki import CertFacts, Subject, create_ca, issue_certificate, load_certificate, load_private_key

#: The armour line of an unencrypted PKCS#8 key, built from its label (no key-shaped text in the sources).
PKCS8_BEGIN = b"-----BEGIN " + b"PRIVATE KEY-----\n"
PKCS8_END = b"-----END " + b"PRIVATE KEY-----\n"

PARTY_ALT_NAMES = ["localhost", "127.0.0.1"]

# sha256WithRSAEncryption and sha1WithRSAEncryption differ in the last byte only.
_SHA256_WITH_RSA_OID = bytes.fromhex("2a864886f70d01010b")
_SHA1_WITH_RSA_OID = bytes.fromhex("2a864886f70d010105")


@dataclass(frozen=True)
class Issued:
    """A key file, its certificate file, and what ``create_ca`` / ``issue_certificate`` reported."""

    key_path: Path
    cert_path: Path
    facts: CertFacts


def _new_ca(directory: Path, common_name: str) -> Issued:
    key_path, cert_path = directory / "is_asym_v1.pem", directory / "is_cert_v1.pem"
    facts = create_ca(Subject(common_name, organization="IBM"), 1000, key_path, cert_path)
    return Issued(key_path, cert_path, facts)


def _new_party(ca: Issued, directory: Path, common_name: str) -> Issued:
    key_path, cert_path = directory / f"sb_asym_v1_{common_name}.pem", directory / f"sb_cert_v1_{common_name}.pem"
    facts = issue_certificate(
        ca.key_path, ca.cert_path, Subject(common_name, organization="IBM"), PARTY_ALT_NAMES, 365, key_path, cert_path
    )
    return Issued(key_path, cert_path, facts)


@pytest.fixture(scope="session")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Issued:
    return _new_ca(tmp_path_factory.mktemp("ca"), "fldecl test CA")


@pytest.fixture(scope="session")
def party(ca: Issued, tmp_path_factory: pytest.TempPathFactory) -> Issued:
    return _new_party(ca, tmp_path_factory.mktemp("party"), "Party_1")


@pytest.fixture(scope="session")
def aggregator(ca: Issued, tmp_path_factory: pytest.TempPathFactory) -> Issued:
    return _new_party(ca, tmp_path_factory.mktemp("aggregator"), "aggregator")


@pytest.fixture(scope="session")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> Issued:
    return _new_ca(tmp_path_factory.mktemp("other-ca"), "another consortium CA")


@pytest.fixture(scope="session")
def foreign_party(other_ca: Issued, tmp_path_factory: pytest.TempPathFactory) -> Issued:
    """A well-formed party certificate, but from a CA the consortium does not trust."""
    return _new_party(other_ca, tmp_path_factory.mktemp("foreign"), "Party_X")


ForgeCertificate = Callable[..., Path]


@pytest.fixture(scope="session")
def forge_certificate(ca: Issued) -> ForgeCertificate:
    """Write a certificate that breaks rules fldecl itself never breaks, signed by the test CA."""
    ca_key = load_private_key(ca.key_path)
    ca_cert = load_certificate(ca.cert_path)

    def forge(
        path: Path,
        public_key: PublicKeyTypes,
        *,
        sha1: bool = False,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> Path:
        now = datetime.now(timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "forged")]))
            .issuer_name(ca_cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - timedelta(days=1))
            .not_valid_after(not_after or now + timedelta(days=30))
            .sign(ca_key, hashes.SHA256())
        )
        der = cert.public_bytes(serialization.Encoding.DER)
        if sha1:
            der = _resign_with_sha1(der, ca_key)
        path.write_bytes(x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM))
        return path

    return forge


def _resign_with_sha1(der: bytes, ca_key: rsa.RSAPrivateKey) -> bytes:
    """cryptography no longer signs with SHA-1, so swap the algorithm OIDs and re-sign by hand.

    The OIDs have the same length and so does the signature, so no DER length changes.
    """
    der = der.replace(_SHA256_WITH_RSA_OID, _SHA1_WITH_RSA_OID)
    tbs = x509.load_der_x509_certificate(der).tbs_certificate_bytes
    signature = ca_key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())
    return der[: -len(signature)] + signature
