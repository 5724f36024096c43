"""Making certificates: the consortium CA, party certificates, and signing a party's own CSR."""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID

from fldecl.pki.chain import is_ca, validity_problems
from fldecl.pki.errors import PKIError
from fldecl.pki.facts import CertFacts
from fldecl.pki.files import load_certificate, load_csr, load_private_key, write_certificate, write_csr, write_private_key
from fldecl.pki.inspection import inspect
from fldecl.pki.keys import generate_private_key, is_same_public_key, key_problems, signature_hash, signature_problems
from fldecl.pki.subject import Subject, describe_name

# The CA certificate carries SAN localhost, as the certificates in IBM's sample notebook do.
CA_SUBJECT_ALT_NAMES = ["localhost"]
# Backdating tolerates clocks that differ a little between the parties and the aggregator.
CLOCK_SKEW = timedelta(minutes=5)


def create_ca(subject: Subject, validity_days: int, key_path: Path, cert_path: Path) -> CertFacts:
    """Generate the CA key (0600) and its self-signed certificate, which every party trusts."""
    _check_validity_days(validity_days)
    key = generate_private_key()
    name = subject.to_x509_name()
    cert = (
        _certificate_builder(name, name, key.public_key(), validity_days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectAlternativeName(parse_subject_alt_names(CA_SUBJECT_ALT_NAMES)), critical=False)
        .sign(key, signature_hash())
    )
    write_private_key(Path(key_path), key)
    write_certificate(Path(cert_path), cert)
    return inspect(cert_path, key_path, cert_path)


def issue_certificate(
    ca_key_path: Path,
    ca_cert_path: Path,
    subject: Subject,
    subject_alt_names: list[str],
    validity_days: int,
    key_path: Path,
    cert_path: Path,
) -> CertFacts:
    """Generate a party key (0600) and a certificate for it signed by the CA."""
    ca_key, ca_cert = _load_issuer(Path(ca_key_path), Path(ca_cert_path))
    alt_names = parse_subject_alt_names(subject_alt_names)
    _check_validity_days(validity_days)
    key = generate_private_key()
    cert = _sign_party_certificate(ca_key, ca_cert, subject.to_x509_name(), key.public_key(), alt_names, validity_days)
    write_private_key(Path(key_path), key)
    write_certificate(Path(cert_path), cert)
    return inspect(cert_path, key_path, ca_cert_path)


def sign_csr(
    ca_key_path: Path,
    ca_cert_path: Path,
    csr_path: Path,
    subject_alt_names: list[str] | None,
    validity_days: int,
    cert_path: Path,
) -> CertFacts:
    """Certify a key the party generated itself, so its private key never leaves the party.

    The certificate takes the CSR's subject; ``subject_alt_names=None`` keeps the CSR's own SANs.
    """
    csr_path = Path(csr_path)
    ca_key, ca_cert = _load_issuer(Path(ca_key_path), Path(ca_cert_path))
    problems = csr_problems(csr_path)
    if problems:
        raise PKIError(f"CSR {csr_path} is refused: {'; '.join(problems)}")
    csr = load_csr(csr_path)
    if subject_alt_names is None:
        alt_names = _requested_alt_names(csr)
    else:
        alt_names = parse_subject_alt_names(subject_alt_names)
    _check_validity_days(validity_days)
    cert = _sign_party_certificate(ca_key, ca_cert, csr.subject, csr.public_key(), alt_names, validity_days)
    write_certificate(Path(cert_path), cert)
    return inspect(cert_path, None, ca_cert_path)


def csr_problems(csr_path: Path) -> list[str]:
    """Every rule a party's CSR breaks, empty when fldecl may sign it.

    ``validate`` calls it too, so a weak or forged CSR is reported before anything is made.
    """
    try:
        csr = load_csr(Path(csr_path))
    except PKIError as error:
        return [str(error)]
    if not csr.is_signature_valid:
        return ["it has an invalid signature"]
    problems = key_problems(csr.public_key()) + signature_problems(csr, "CSR")
    if len(csr.subject) == 0:
        problems.append("its subject is empty")
    return problems


def generate_csr(
    subject: Subject,
    key_path: Path,
    csr_path: Path,
    subject_alt_names: list[str] | None = None,
) -> None:
    """The party side of :func:`sign_csr`: a new key (0600) and a CSR for it."""
    key = generate_private_key()
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject.to_x509_name())
    if subject_alt_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(parse_subject_alt_names(subject_alt_names)), critical=False
        )
    csr = builder.sign(key, signature_hash())
    write_private_key(Path(key_path), key)
    write_csr(Path(csr_path), csr)


def parse_subject_alt_names(names: list[str]) -> list[x509.GeneralName]:
    """IP addresses become IP SANs (what TLS matches for ``127.0.0.1``), anything else a DNS name."""
    return [_parse_subject_alt_name(name) for name in names]


def _parse_subject_alt_name(name: str) -> x509.GeneralName:
    if not name or name != name.strip():
        raise PKIError(f"invalid subject alternative name {name!r}")
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        pass
    if not name.isascii():
        raise PKIError(f"subject alternative name {name!r} must be ASCII (use the IDNA 'xn--' form)")
    return x509.DNSName(name)


def _requested_alt_names(csr: x509.CertificateSigningRequest) -> list[x509.GeneralName]:
    try:
        return list(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        return []


def _load_issuer(ca_key_path: Path, ca_cert_path: Path) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """Load the CA, refusing one that would issue certificates the parties reject."""
    ca_cert = load_certificate(ca_cert_path)
    ca_key = load_private_key(ca_key_path)
    ca_name = describe_name(ca_cert.subject)
    if not is_ca(ca_cert):
        raise PKIError(f"{ca_cert_path} ({ca_name}) is not a CA certificate")
    if not is_same_public_key(ca_key.public_key(), ca_cert.public_key()):
        raise PKIError(f"CA key {ca_key_path} does not match CA certificate {ca_cert_path}")
    problems = key_problems(ca_cert.public_key()) + validity_problems(ca_cert, role="CA certificate")
    if problems:
        raise PKIError(f"CA {ca_name} cannot issue certificates: {'; '.join(problems)}")
    if not isinstance(ca_key, rsa.RSAPrivateKey):  # not reached: it matches the certificate, whose key passed key_problems
        raise PKIError(f"CA key {ca_key_path} is not an RSA key")
    return ca_key, ca_cert


def _sign_party_certificate(
    ca_key: rsa.RSAPrivateKey,
    ca_cert: x509.Certificate,
    subject_name: x509.Name,
    public_key: CertificatePublicKeyTypes,
    alt_names: list[x509.GeneralName],
    validity_days: int,
) -> x509.Certificate:
    """A leaf usable for mutual TLS (parties are clients, the aggregator a server) and HE key wrapping."""
    builder = (
        _certificate_builder(subject_name, ca_cert.subject, public_key, validity_days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        # digital_signature: TLS and RSA-PSS; key_encipherment: the HE key wrapped with RSA-OAEP.
        .add_extension(_key_usage(digital_signature=True, key_encipherment=True), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(_authority_key_identifier(ca_cert, ca_key), critical=False)
    )
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    return builder.sign(ca_key, signature_hash())


def _certificate_builder(
    subject_name: x509.Name, issuer_name: x509.Name, public_key: CertificatePublicKeyTypes, validity_days: int
) -> x509.CertificateBuilder:
    """What every certificate shares: names, key, random serial, validity and its key identifier."""
    now = datetime.now(timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject_name)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + timedelta(days=validity_days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _authority_key_identifier(ca_cert: x509.Certificate, ca_key: rsa.RSAPrivateKey) -> x509.AuthorityKeyIdentifier:
    try:
        ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:  # a CA made elsewhere without SKI
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())  # the certificate's key
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _key_usage(
    *,
    digital_signature: bool = False,
    key_encipherment: bool = False,
    key_cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _check_validity_days(validity_days: int) -> None:
    if validity_days < 1:
        raise PKIError(f"validity_days must be at least 1, got {validity_days}")
