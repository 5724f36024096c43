"""Reading and writing PEM files: atomic writes (:mod:`fldecl.atomic_write`), owner-only private keys, errors that name the file."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from fldecl.atomic_write import PRIVATE_FILE_MODE, write_atomically
from fldecl.pki.errors import PKIError
from fldecl.pki.keys import private_key_pem

PRIVATE_KEY_FILE_MODE = PRIVATE_FILE_MODE
PUBLIC_FILE_MODE = 0o644
#: SHA-256 of the PEM keys this process generated, or whose RSA consistency check passed in it.
_validated_keys: set[bytes] = set()

Parsed = TypeVar("Parsed")


class EncryptedKeyError(PKIError):
    """The key file is password protected, which WML parties cannot use."""


def write_private_key(path: Path, key: PrivateKeyTypes) -> None:
    """Write a key this process generated: reading the same bytes back later in the process skips the RSA check."""
    pem = private_key_pem(key)
    write_atomically(path, pem, PRIVATE_KEY_FILE_MODE)
    _validated_keys.add(hashlib.sha256(pem).digest())


def write_certificate(path: Path, cert: x509.Certificate) -> None:
    write_atomically(path, cert.public_bytes(serialization.Encoding.PEM), PUBLIC_FILE_MODE)


def write_csr(path: Path, csr: x509.CertificateSigningRequest) -> None:
    write_atomically(path, csr.public_bytes(serialization.Encoding.PEM), PUBLIC_FILE_MODE)


def load_certificate(path: Path) -> x509.Certificate:
    return _parse_pem(Path(path), "certificate", x509.load_pem_x509_certificate, x509.load_der_x509_certificate)


def load_csr(path: Path) -> x509.CertificateSigningRequest:
    return _parse_pem(Path(path), "CSR", x509.load_pem_x509_csr, x509.load_der_x509_csr)


def load_private_key(path: Path, *, validate: bool = True) -> PrivateKeyTypes:
    """Load an unencrypted PEM key; raises :class:`EncryptedKeyError` for a password-protected one.

    ``validate=False`` skips the RSA consistency check (about 0.3 s for a 4096-bit key), for a file
    whose exact bytes passed it before (see :func:`file_digest`).
    """
    path = Path(path)
    try:
        return _parse_pem(path, "private key",
                          lambda data: private_key_from_pem(data, validate=validate),
                          lambda data: serialization.load_der_private_key(data, None, unsafe_skip_rsa_key_validation=not validate))
    except TypeError:  # cryptography's signal that the key needs a password
        raise EncryptedKeyError(
            f"private key {path} is encrypted with a password; the parties need an unencrypted key"
        ) from None


def private_key_from_pem(data: bytes, *, validate: bool = True) -> PrivateKeyTypes:
    """An unencrypted PEM key, its RSA consistency check run once per process for the same bytes.

    The check costs about 0.3 s for a 4096-bit key, and one apply or party loads the same key file
    several times (a key it just wrote, to inspect it; the CA's for each certificate it issues; a
    party's for TLS, then for its keys).
    Raises ``ValueError`` for what is not a key and ``TypeError`` for an encrypted one, as
    ``cryptography`` does.
    """
    digest = hashlib.sha256(data).digest()
    skip_check = not validate or digest in _validated_keys
    key = serialization.load_pem_private_key(data, None, unsafe_skip_rsa_key_validation=skip_check)
    if validate:
        _validated_keys.add(digest)
    return key


def file_digest(path: Path, what: str = "file") -> str:
    """``sha256:<hex>`` of a file's bytes: tells whether a key file is the one an earlier check passed."""
    return "sha256:" + hashlib.sha256(_read(Path(path), what)).hexdigest()


def _parse_pem(
    path: Path,
    what: str,
    load_pem: Callable[[bytes], Parsed],
    load_der: Callable[[bytes], object],
) -> Parsed:
    """Parse a PEM file; a DER file gets its own message because PEM is what the parties require.

    Parser messages are left out (``from None``): for keys they could echo file content.
    """
    data = _read(path, what)
    try:
        return load_pem(data)
    except (ValueError, UnsupportedAlgorithm):
        pass
    try:
        load_der(data)
    except (ValueError, UnsupportedAlgorithm):
        raise PKIError(f"{what} {path} is not a readable PEM {what}") from None
    raise PKIError(f"{what} {path} is DER-encoded; PEM required")


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise PKIError(f"{what} {path} does not exist") from None
    except OSError as error:
        raise PKIError(f"cannot read {what} {path}: {error.strerror}") from None
