"""Inspecting certificate and key files: the facts plans compare and ``show`` prints.

A plan inspects files only when their digests differ from the record of the last inspection
(:mod:`fldecl.pki.facts`, which needs no cryptography); this module parses them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

from fldecl.pki.chain import is_ca, issuance_problems, validity_window
from fldecl.pki.facts import CertFacts, ValidityWindow, utc_now_or
from fldecl.pki.files import PRIVATE_KEY_FILE_MODE, EncryptedKeyError, file_digest, load_certificate, load_private_key
from fldecl.pki.keys import is_same_public_key, key_problems, signature_hash_name, signature_problems
from fldecl.pki.subject import name_to_dict


@dataclass
class _KeyFileFacts:
    mode: int
    encrypted: bool
    matches_cert: bool | None
    problems: list[str]
    sha256: str


def inspect(
    cert_path: Path,
    key_path: Path | None = None,
    ca_cert_path: Path | None = None,
    now: datetime | None = None,
    checked_key_sha256: str | None = None,
) -> CertFacts:
    """Observe the files and list every rule they break.

    Rule violations never raise, so a plan can show all of them at once; a missing or
    unparseable file raises :class:`PKIError` naming the file. Every fact is read on every call;
    only the private key's consistency check is skipped when the key file's digest equals
    ``checked_key_sha256`` (a file whose exact bytes passed it before).
    """
    cert = load_certificate(Path(cert_path))
    ca_cert = load_certificate(Path(ca_cert_path)) if ca_cert_path is not None else None
    key_facts = _inspect_key_file(Path(key_path), cert, checked_key_sha256) if key_path is not None else None

    public_key = cert.public_key()
    lasting = key_problems(public_key) + signature_problems(cert, "certificate")
    if key_facts is not None:
        lasting += key_facts.problems
    windows: list[ValidityWindow] = [validity_window(cert)]
    chain_issued = None
    if ca_cert is not None:
        issuance = issuance_problems(cert, ca_cert)
        lasting += issuance
        chain_issued = not issuance
        if ca_cert != cert:  # a CA checked against itself already has its window
            windows.append(validity_window(ca_cert, role="CA certificate"))

    return CertFacts.judged(
        utc_now_or(now),
        subject=name_to_dict(cert.subject),
        issuer=name_to_dict(cert.issuer),
        serial=format(cert.serial_number, "x"),
        fingerprint_sha256=cert.fingerprint(hashes.SHA256()).hex(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        subject_alt_names=_subject_alt_names(cert),
        key_size=getattr(public_key, "key_size", 0),
        public_exponent=public_key.public_numbers().e if isinstance(public_key, rsa.RSAPublicKey) else 0,
        signature_hash=signature_hash_name(cert),
        is_ca=is_ca(cert),
        key_file_mode=key_facts.mode if key_facts else None,
        key_encrypted=key_facts.encrypted if key_facts else None,
        key_matches_cert=key_facts.matches_cert if key_facts else None,
        key_sha256=key_facts.sha256 if key_facts else None,
        lasting_problems=lasting,
        windows=windows,
        chain_issued=chain_issued,
    )


def _inspect_key_file(key_path: Path, cert: x509.Certificate, checked_sha256: str | None) -> _KeyFileFacts:
    problems: list[str] = []
    digest = file_digest(key_path, "private key")
    try:
        key = load_private_key(key_path, validate=digest != checked_sha256)
    except EncryptedKeyError as error:
        key = None
        problems.append(str(error))
    mode = key_path.stat().st_mode & 0o777
    if mode & ~PRIVATE_KEY_FILE_MODE:
        problems.append(f"private key {key_path} has mode {mode:04o}; {PRIVATE_KEY_FILE_MODE:04o} required")
    matches_cert = None if key is None else is_same_public_key(key.public_key(), cert.public_key())
    if matches_cert is False:
        problems.append(f"private key {key_path} does not match the certificate's public key")
    return _KeyFileFacts(mode=mode, encrypted=key is None, matches_cert=matches_cert, problems=problems, sha256=digest)


def _subject_alt_names(cert: x509.Certificate) -> list[str]:
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(name.value) for name in names]
