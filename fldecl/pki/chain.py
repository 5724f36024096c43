"""Checking that a certificate comes from the consortium's CA and is valid now."""

from __future__ import annotations

from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PSS, PKCS1v15

from fldecl.pki.errors import PKIError
from fldecl.pki.facts import ValidityWindow
from fldecl.pki.subject import describe_name


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def validity_window(cert: x509.Certificate, role: str = "certificate") -> ValidityWindow:
    """When ``cert`` is valid; ``role`` names it in messages."""
    return ValidityWindow(f"{role} for {describe_name(cert.subject)}", cert.not_valid_before_utc, cert.not_valid_after_utc)


def validity_problems(cert: x509.Certificate, now: datetime | None = None, role: str = "certificate") -> list[str]:
    """Why ``cert`` is not valid at ``now`` (empty when it is); ``role`` names it in the message."""
    return validity_window(cert, role).problems(now)


def issuance_problems(cert: x509.Certificate, ca_cert: x509.Certificate) -> list[str]:
    """Why ``cert`` was not issued by ``ca_cert`` (empty when its signature verifies under the CA)."""
    ca_name = describe_name(ca_cert.subject)
    if not is_ca(ca_cert):
        return [f"CA certificate {ca_name} is not a CA certificate (BasicConstraints ca=true missing)"]
    if cert.issuer != ca_cert.subject or not is_signed_by(cert, ca_cert):
        return [f"certificate for {describe_name(cert.subject)} is not issued by CA {ca_name}"]
    return []


def is_signed_by(cert: x509.Certificate, ca_cert: x509.Certificate) -> bool:
    """Whether ``cert``'s signature verifies under ``ca_cert``'s key."""
    ca_key = ca_cert.public_key()
    padding = cert.signature_algorithm_parameters
    hash_algorithm = cert.signature_hash_algorithm
    try:
        if isinstance(ca_key, rsa.RSAPublicKey) and isinstance(padding, (PKCS1v15, PSS)) and hash_algorithm is not None:
            # By hand, because verify_directly_issued_by refuses SHA-1 outright: a SHA-1 certificate
            # from the right CA must be reported as a hash problem, not as a foreign issuer.
            ca_key.verify(cert.signature, cert.tbs_certificate_bytes, padding, hash_algorithm)
        else:
            cert.verify_directly_issued_by(ca_cert)
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True


def chain_problems(cert: x509.Certificate, ca_cert: x509.Certificate, now: datetime | None = None) -> list[str]:
    """Everything that would make a party reject ``cert`` when it trusts ``ca_cert``."""
    return (
        issuance_problems(cert, ca_cert)
        + validity_problems(cert, now)
        + validity_problems(ca_cert, now, role="CA certificate")
    )


def verify_chain(cert: x509.Certificate, ca_cert: x509.Certificate, now: datetime | None = None) -> None:
    """Raise :class:`PKIError` unless ``cert`` is issued by ``ca_cert`` and both are valid at ``now``."""
    problems = chain_problems(cert, ca_cert, now)
    if problems:
        raise PKIError("; ".join(problems))
