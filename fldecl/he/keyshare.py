"""Handing a training's secret keyring to its parties through an aggregator that must not read it.

Modelled on IBM FL's key distribution for ``crypto_iter_avg``: one party generates the keyring,
encrypts it under a fresh AES-256-GCM key, wraps that key for every party with RSA-OAEP-SHA256
under the public key of the party's CA-issued certificate, and signs the whole bundle with
RSA-PSS-SHA256. The bundle is relayed by the aggregator, so a receiving party trusts nothing in
it until it has checked that the signer's certificate chains to the training's CA, that the
signer is one of the recipients (a party of the training), that the signature covers the
training id, the parameters, the recipient list and the sealed keyring, and only then unwraps.
An aggregator that swaps in keys of its own, or edits anything, fails one of those checks.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fldecl.errors import RuntimeFailure
from fldecl.he.errors import HEError
from fldecl.he.keyring import SecretKeyring
from fldecl.pki.chain import is_ca, is_signed_by, validity_window
from fldecl.pki.facts import EXPIRED, NOT_YET_VALID
from fldecl.pki.files import private_key_from_pem

BUNDLE_FORMAT = "fldecl-he-keyshare/1"
MIN_RSA_BITS = 2048
_NONCE_SIZE = 12
_OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
_TEXT_FIELDS = (
    "training_id",
    "cipher_spec",
    "public_context",
    "signer_certificate",
    "nonce",
    "sealed_keyring",
    "signature",
)


class KeyShareError(RuntimeFailure):
    """A key bundle that must not be trusted, or inputs that cannot make one."""


def seal_keyring(
    keyring: SecretKeyring,
    training_id: str,
    signer_key_pem: bytes,
    signer_cert_pem: bytes,
    recipients: dict[str, bytes],
    ca_cert_pem: bytes,
) -> bytes:
    """Make one signed bundle from which every recipient can open the keyring.

    ``recipients`` maps party names to certificate PEMs. The signer must be among them: the
    receiving parties accept keys only from a party of the training.
    """
    ca_certificate = _load_ca(ca_cert_pem)
    signer_certificate = _verified_certificate(signer_cert_pem, ca_certificate, "the signer's certificate")
    signer_key = _load_private_key(signer_key_pem, "the signer's key")
    if _fingerprint(signer_key.public_key()) != _fingerprint(signer_certificate.public_key()):
        raise KeyShareError("the signer's private key does not match the signer's certificate")
    if not recipients:
        raise KeyShareError("a key bundle needs at least one recipient")
    recipient_keys = {
        name: _rsa_public_key(_verified_certificate(pem, ca_certificate, f"party {name!r}'s certificate"))
        for name, pem in recipients.items()
    }
    recipient_fingerprints = {_fingerprint(key) for key in recipient_keys.values()}
    if _fingerprint(signer_key.public_key()) not in recipient_fingerprints:
        raise KeyShareError("the signer must be one of the recipients: parties accept keys only from a party")

    content_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(_NONCE_SIZE)
    public_context = keyring.public_context()
    associated_data = _associated_data(training_id, public_context)
    sealed = AESGCM(content_key).encrypt(nonce, keyring.to_bytes(), associated_data)
    fields = {
        "format": BUNDLE_FORMAT,
        "training_id": training_id,
        "cipher_spec": keyring.parameters.name,
        "public_context": _b64encode(public_context),
        "signer_certificate": signer_certificate.public_bytes(serialization.Encoding.PEM).decode(),
        "recipients": {
            name: {
                "public_key_sha256": _fingerprint(key),
                "wrapped_key": _b64encode(key.encrypt(content_key, _OAEP)),
            }
            for name, key in recipient_keys.items()
        },
        "nonce": _b64encode(nonce),
        "sealed_keyring": _b64encode(sealed),
    }
    fields["signature"] = _b64encode(signer_key.sign(_canonical(fields), _PSS, hashes.SHA256()))
    return _canonical(fields)


def open_keyring(
    bundle: bytes,
    training_id: str,
    my_name: str,
    my_key_pem: bytes,
    ca_cert_pem: bytes,
    allowed_signers: set[str] | None = None,
) -> SecretKeyring:
    """Verify a bundle relayed by the aggregator and unwrap this party's copy of the keyring."""
    fields = _verify_bundle(bundle, training_id, ca_cert_pem, allowed_signers)
    public_context = _b64decode(fields["public_context"], "public_context")
    entry = fields["recipients"].get(my_name)
    if entry is None:
        raise KeyShareError(f"the key bundle has no key for party {my_name!r}")
    my_key = _load_private_key(my_key_pem, "this party's key")
    if entry["public_key_sha256"] != _fingerprint(my_key.public_key()):
        raise KeyShareError(f"the key bundle's entry for {my_name!r} was wrapped for another public key")
    try:
        content_key = my_key.decrypt(_b64decode(entry["wrapped_key"], "wrapped_key"), _OAEP)
        nonce = _b64decode(fields["nonce"], "nonce")
        sealed = _b64decode(fields["sealed_keyring"], "sealed_keyring")
        associated_data = _associated_data(training_id, public_context)
        keyring_bytes = AESGCM(content_key).decrypt(nonce, sealed, associated_data)
    except (ValueError, InvalidTag) as error:
        reason = str(error) or "authentication failed"
        raise KeyShareError(f"cannot unwrap the keyring for {my_name!r}: {reason}") from error
    try:
        keyring = SecretKeyring.from_bytes(keyring_bytes)
        matches = keyring.matches_context(public_context)
    except HEError as error:
        raise KeyShareError(f"the unwrapped keyring is unusable: {error}") from error
    if not matches or keyring.parameters.name != fields["cipher_spec"]:
        raise KeyShareError("the unwrapped keyring does not match the bundle's public context")
    return keyring


def verified_public_context(
    bundle: bytes,
    training_id: str,
    ca_cert_pem: bytes,
    allowed_signers: set[str] | None = None,
) -> bytes:
    """The public context a bundle carries, after the same checks a party makes: for the aggregator."""
    fields = _verify_bundle(bundle, training_id, ca_cert_pem, allowed_signers)
    return _b64decode(fields["public_context"], "public_context")


def recipient_key_fingerprints(bundle: bytes) -> set[str]:
    """The fingerprints of the public keys a bundle wraps the keyring for, read without verifying it.

    A party compares them with :func:`certificate_key_fingerprint` of the aggregator's
    certificate before opening the bundle, so keys shared with the aggregator are refused whatever
    else the bundle claims. A malformed bundle raises :class:`KeyShareError`, as :func:`open_keyring` would.
    """
    return {entry["public_key_sha256"] for entry in _parse_bundle(bundle)["recipients"].values()}


def certificate_key_fingerprint(cert_pem: bytes) -> str:
    """The fingerprint under which a bundle names the recipient holding this certificate's key."""
    return _fingerprint(_load_certificate(cert_pem, "the certificate").public_key())


def _verify_bundle(
    bundle: bytes, training_id: str, ca_cert_pem: bytes, allowed_signers: set[str] | None
) -> dict[str, Any]:
    """The bundle's fields, once its signer chains to the CA, is a party, and its signature holds."""
    fields = _parse_bundle(bundle)
    ca_certificate = _load_ca(ca_cert_pem)
    signer_certificate = _verified_certificate(
        fields["signer_certificate"].encode(), ca_certificate, "the bundle's signer certificate"
    )
    signer_key = _rsa_public_key(signer_certificate)
    unsigned = {name: value for name, value in fields.items() if name != "signature"}
    signature = _b64decode(fields["signature"], "signature")
    try:
        signer_key.verify(signature, _canonical(unsigned), _PSS, hashes.SHA256())
    except InvalidSignature:
        raise KeyShareError("the key bundle's signature does not verify: it was altered") from None
    if fields["training_id"] != training_id:
        raise KeyShareError(f"the key bundle is for training {fields['training_id']!r}, not {training_id!r}")
    signer_key_id = _fingerprint(signer_key)
    recipients = fields["recipients"]
    signer_names = [name for name, entry in recipients.items() if entry["public_key_sha256"] == signer_key_id]
    if not signer_names:
        raise KeyShareError("the key bundle was signed by someone who is not one of its parties")
    if allowed_signers is not None and not set(signer_names) & allowed_signers:
        raise KeyShareError(f"the key bundle was signed by {signer_names[0]!r}, who may not distribute keys")
    return fields


def _parse_bundle(bundle: bytes) -> dict[str, Any]:
    """Decode the JSON and check its shape, so later checks can index it safely."""
    try:
        fields = json.loads(bundle)
    except (ValueError, UnicodeDecodeError) as error:
        raise KeyShareError(f"the key bundle is not valid JSON: {error}") from error
    if not isinstance(fields, dict) or fields.get("format") != BUNDLE_FORMAT:
        raise KeyShareError(f"the key bundle is not in the {BUNDLE_FORMAT} format")
    for name in _TEXT_FIELDS:
        if not isinstance(fields.get(name), str):
            raise KeyShareError(f"the key bundle lacks the text field {name!r}")
    recipients = fields.get("recipients")
    if not isinstance(recipients, dict) or not all(map(_is_recipient_entry, recipients.values())):
        raise KeyShareError("the key bundle's recipient list is malformed")
    return fields


def _is_recipient_entry(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and set(entry) == {"public_key_sha256", "wrapped_key"}
        and all(isinstance(value, str) for value in entry.values())
    )


def _load_ca(ca_cert_pem: bytes) -> x509.Certificate:
    certificate = _load_certificate(ca_cert_pem, "the CA certificate")
    _check_validity(certificate, "the CA certificate")
    if not is_ca(certificate):
        raise KeyShareError("the CA certificate is not marked as a certificate authority")
    return certificate


def _verified_certificate(pem: bytes, ca_certificate: x509.Certificate, label: str) -> x509.Certificate:
    """Parse a certificate and check it was issued by the CA and is valid now (the PKI's own checks)."""
    certificate = _load_certificate(pem, label)
    if certificate.issuer != ca_certificate.subject or not is_signed_by(certificate, ca_certificate):
        raise KeyShareError(f"{label} is not issued by the training's CA")
    _check_validity(certificate, label)
    _rsa_public_key(certificate)
    return certificate


def _load_certificate(pem: bytes, label: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as error:
        raise KeyShareError(f"{label} is not a PEM certificate: {error}") from error


def _check_validity(certificate: x509.Certificate, label: str) -> None:
    window = validity_window(certificate)
    state = window.state()
    if state == NOT_YET_VALID:
        raise KeyShareError(f"{label} is not valid before {window.not_before:%Y-%m-%d} UTC")
    if state == EXPIRED:
        raise KeyShareError(f"{label} expired on {window.not_after:%Y-%m-%d} UTC")


def _rsa_public_key(certificate: x509.Certificate) -> rsa.RSAPublicKey:
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_RSA_BITS:
        subject = certificate.subject.rfc4514_string()
        raise KeyShareError(f"certificate {subject!r} needs an RSA key of at least {MIN_RSA_BITS} bits")
    return key


def _load_private_key(pem: bytes, label: str) -> rsa.RSAPrivateKey:
    try:
        key = private_key_from_pem(pem)
    except (ValueError, TypeError) as error:
        raise KeyShareError(f"{label} is not an unencrypted PEM private key: {error}") from error
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyShareError(f"{label} is not an RSA key")
    return key


def _fingerprint(key: PublicKeyTypes) -> str:
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def _associated_data(training_id: str, public_context: bytes) -> bytes:
    """Bind the sealed keyring to its training and parameters even apart from the signature."""
    return b"\0".join([BUNDLE_FORMAT.encode(), training_id.encode(), hashlib.sha256(public_context).digest()])


def _canonical(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str, field: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise KeyShareError(f"the key bundle's {field} is not base64") from error
