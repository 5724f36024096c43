"""RSA key generation and the key rules WML homomorphic-encryption parties impose."""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from fldecl.pki.errors import PKIError

KEY_SIZE = 4096
PUBLIC_EXPONENT = 65537
SIGNATURE_HASH = "SHA256"


def signature_hash() -> hashes.SHA256:
    """The hash every certificate and CSR fldecl signs uses."""
    return hashes.SHA256()


def generate_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=KEY_SIZE)


def private_key_pem(key: PrivateKeyTypes) -> bytes:
    """Unencrypted PKCS#8 PEM: the parties read the key without a password."""
    return key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


def key_algorithm_name(public_key: PublicKeyTypes) -> str:
    """``RSA``, ``EC``, ``Ed25519``... taken from the key class, so new algorithms need no table."""
    return type(public_key).__name__.removesuffix("PublicKey")


def key_problems(public_key: PublicKeyTypes) -> list[str]:
    """Every key rule the public key breaks (empty when it is RSA 4096 with exponent 65537)."""
    if not isinstance(public_key, rsa.RSAPublicKey):
        return [f"key is {key_algorithm_name(public_key)}; RSA required"]
    problems = []
    if public_key.key_size != KEY_SIZE:
        problems.append(f"key is {public_key.key_size}-bit; {KEY_SIZE} required")
    exponent = public_key.public_numbers().e
    if exponent != PUBLIC_EXPONENT:
        problems.append(f"public exponent is {exponent}; {PUBLIC_EXPONENT} required")
    return problems


def signature_problems(signed: x509.Certificate | x509.CertificateSigningRequest, what: str) -> list[str]:
    """The hash rule, for a certificate or a CSR: SHA-256 signatures only."""
    used = signature_hash_name(signed)
    return [] if used == SIGNATURE_HASH else [f"{what} is signed with {used}; {SIGNATURE_HASH} required"]


def signature_hash_name(signed: x509.Certificate | x509.CertificateSigningRequest) -> str:
    try:
        algorithm = signed.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return "unknown"
    return algorithm.name.upper() if algorithm is not None else "none"


def is_same_public_key(first: PublicKeyTypes, second: PublicKeyTypes) -> bool:
    """Compare encodings, which works across key types (a mismatch of types is simply False)."""
    encoding, format_ = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return first.public_bytes(encoding, format_) == second.public_bytes(encoding, format_)


def public_key_from_certificate(cert: x509.Certificate) -> rsa.RSAPublicKey:
    """The party's RSA key, e.g. to wrap the HE key for it with RSA-OAEP."""
    public_key = cert.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise PKIError(f"certificate key is {key_algorithm_name(public_key)}; RSA required")
    return public_key
