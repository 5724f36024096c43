"""Key distribution through an aggregator that may try to substitute or alter keys."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from fldecl.he import SecretKeyring, aggregate
from fldecl.he.keyshare import (
    KeyShareError,
    certificate_key_fingerprint,
    open_keyring,
    recipient_key_fingerprints,
    seal_keyring,
    verified_public_context,
)

from .certificates import PARTY_NAMES, Identity, issue, make_ca, new_key

TRAINING_ID = "training-0001"
SIGNER = PARTY_NAMES[0]


def _recipients(parties: dict[str, Identity]) -> dict[str, bytes]:
    return {name: party.cert_pem for name, party in parties.items()}


@pytest.fixture(scope="module")
def bundle(level_1_keyring: SecretKeyring, ca: Identity, parties: dict[str, Identity]) -> bytes:
    signer = parties[SIGNER]
    return seal_keyring(
        level_1_keyring, TRAINING_ID, signer.key_pem, signer.cert_pem, _recipients(parties), ca.cert_pem
    )


def _open(
    bundle: bytes, ca: Identity, party: Identity, name: str = PARTY_NAMES[1], **options: Any
) -> SecretKeyring:
    return open_keyring(bundle, TRAINING_ID, name, party.key_pem, ca.cert_pem, **options)


def _resigned(bundle: bytes, change: Callable[[dict[str, Any]], None], key: rsa.RSAPrivateKey) -> bytes:
    """The bundle edited by ``change`` and signed again with ``key``, as an attacker holding ``key`` would."""
    fields = json.loads(bundle)
    del fields["signature"]
    change(fields)
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    signature = key.sign(
        canonical, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256()
    )
    fields["signature"] = base64.b64encode(signature).decode()
    return json.dumps(fields).encode()


def test_every_party_opens_the_same_working_keyring(
    bundle: bytes, level_1_keyring: SecretKeyring, ca: Identity, parties: dict[str, Identity]
) -> None:
    updates = np.random.default_rng(3).uniform(-1, 1, size=(len(parties), 4_000))
    blobs = [_open(bundle, ca, parties[name], name).encrypt(update, name) for name, update in zip(parties, updates, strict=True)]
    total = aggregate(level_1_keyring.public_context(), blobs)
    for name, party in parties.items():
        opened = _open(bundle, ca, party, name, allowed_signers={SIGNER})
        assert opened.matches_context(level_1_keyring.public_context())
        assert np.max(np.abs(opened.decrypt(total) - updates.sum(axis=0))) < 1e-6


def test_aggregator_gets_a_verified_public_context_but_cannot_open_the_keyring(
    bundle: bytes, level_1_keyring: SecretKeyring, ca: Identity
) -> None:
    public_context = verified_public_context(bundle, TRAINING_ID, ca.cert_pem)
    assert public_context == level_1_keyring.public_context()
    aggregator = issue(ca, "aggregator")
    with pytest.raises(KeyShareError, match="no key for party 'aggregator'"):
        _open(bundle, ca, aggregator, "aggregator")
    with pytest.raises(KeyShareError, match="wrapped for another public key"):
        _open(bundle, ca, aggregator, PARTY_NAMES[1])


def test_recipient_fingerprints_name_exactly_the_parties_keys(
    bundle: bytes, ca: Identity, parties: dict[str, Identity]
) -> None:
    fingerprints = recipient_key_fingerprints(bundle)
    assert fingerprints == {certificate_key_fingerprint(party.cert_pem) for party in parties.values()}
    assert certificate_key_fingerprint(issue(ca, "aggregator").cert_pem) not in fingerprints


def test_a_key_keeps_its_fingerprint_under_any_certificate(parties: dict[str, Identity]) -> None:
    # An aggregator cannot hide its key among the recipients by certifying it under another name or CA.
    party = parties[PARTY_NAMES[1]]
    recertified = issue(make_ca("rogue CA"), "aggregator", key=party.key)
    assert certificate_key_fingerprint(recertified.cert_pem) == certificate_key_fingerprint(party.cert_pem)


def test_fingerprints_of_malformed_input_are_refused(bundle: bytes) -> None:
    with pytest.raises(KeyShareError, match="not valid JSON"):
        recipient_key_fingerprints(b"not json")
    fields = json.loads(bundle)
    fields["recipients"] = [entry["public_key_sha256"] for entry in fields["recipients"].values()]
    with pytest.raises(KeyShareError, match="recipient list is malformed"):
        recipient_key_fingerprints(json.dumps(fields).encode())
    with pytest.raises(KeyShareError, match="not a PEM certificate"):
        certificate_key_fingerprint(b"not a certificate")


def test_keys_of_an_aggregator_with_its_own_ca_are_rejected(
    level_1_keyring: SecretKeyring, ca: Identity, parties: dict[str, Identity]
) -> None:
    # The attacker re-certifies the parties' real public keys under its own CA and signs its own keyring.
    rogue_ca = make_ca("fldecl test CA")
    rogue_signer = issue(rogue_ca, "aggregator")
    impostors = {name: issue(rogue_ca, name, key=party.key).cert_pem for name, party in parties.items()}
    impostors["aggregator"] = rogue_signer.cert_pem
    attacker_keyring = SecretKeyring.generate("encryption_level_1")
    signer_pems = (rogue_signer.key_pem, rogue_signer.cert_pem)
    forged = seal_keyring(attacker_keyring, TRAINING_ID, *signer_pems, impostors, rogue_ca.cert_pem)
    with pytest.raises(KeyShareError, match="signer certificate is not issued by the training's CA"):
        _open(forged, ca, parties[PARTY_NAMES[1]])
    with pytest.raises(KeyShareError, match="signer certificate is not issued by the training's CA"):
        verified_public_context(forged, TRAINING_ID, ca.cert_pem)


def test_bundle_re_signed_with_an_uncertified_key_is_rejected(
    bundle: bytes, ca: Identity, parties: dict[str, Identity]
) -> None:
    outsider_key = new_key()
    forged = _resigned(bundle, lambda fields: None, outsider_key)
    with pytest.raises(KeyShareError, match="signature does not verify"):
        _open(forged, ca, parties[PARTY_NAMES[1]])


def _replace_public_context(fields: dict[str, Any]) -> None:
    other_context = SecretKeyring.generate("encryption_level_1").public_context()
    fields["public_context"] = base64.b64encode(other_context).decode()


def _replace_wrapped_key(fields: dict[str, Any]) -> None:
    entry = fields["recipients"][PARTY_NAMES[1]]
    entry["wrapped_key"] = fields["recipients"][PARTY_NAMES[2]]["wrapped_key"]


def _drop_a_party(fields: dict[str, Any]) -> None:
    del fields["recipients"][PARTY_NAMES[2]]


def _change_cipher_spec(fields: dict[str, Any]) -> None:
    fields["cipher_spec"] = "encryption_level_4"


def _flip_sealed_keyring(fields: dict[str, Any]) -> None:
    sealed = bytearray(base64.b64decode(fields["sealed_keyring"]))
    sealed[10] ^= 0x01
    fields["sealed_keyring"] = base64.b64encode(bytes(sealed)).decode()


@pytest.mark.parametrize(
    "alteration",
    [_replace_public_context, _replace_wrapped_key, _drop_a_party, _change_cipher_spec, _flip_sealed_keyring],
)
def test_bundle_altered_after_signing_is_rejected(
    bundle: bytes, ca: Identity, parties: dict[str, Identity], alteration: Callable[[dict[str, Any]], None]
) -> None:
    fields = json.loads(bundle)
    alteration(fields)
    with pytest.raises(KeyShareError, match="signature does not verify: it was altered"):
        _open(json.dumps(fields).encode(), ca, parties[PARTY_NAMES[1]])


def test_bundle_for_another_training_is_rejected(
    bundle: bytes, ca: Identity, parties: dict[str, Identity]
) -> None:
    party = parties[PARTY_NAMES[1]]
    with pytest.raises(KeyShareError, match="is for training 'training-0001', not 'training-0002'"):
        open_keyring(bundle, "training-0002", PARTY_NAMES[1], party.key_pem, ca.cert_pem)


def test_signer_outside_the_training_is_rejected(
    bundle: bytes, ca: Identity, parties: dict[str, Identity]
) -> None:
    # A CA-certified key that is not among the training's parties (e.g. the aggregator's own).
    outsider = issue(ca, "aggregator")
    forged = _resigned(
        bundle, lambda fields: fields.update(signer_certificate=outsider.cert_pem.decode()), outsider.key
    )
    with pytest.raises(KeyShareError, match="signed by someone who is not one of its parties"):
        _open(forged, ca, parties[PARTY_NAMES[1]])


def test_signer_not_allowed_to_distribute_is_rejected(
    bundle: bytes, ca: Identity, parties: dict[str, Identity]
) -> None:
    with pytest.raises(KeyShareError, match="signed by 'party_1', who may not distribute keys"):
        _open(bundle, ca, parties[PARTY_NAMES[1]], allowed_signers={PARTY_NAMES[2]})


def test_party_needs_its_own_private_key(bundle: bytes, ca: Identity, parties: dict[str, Identity]) -> None:
    with pytest.raises(KeyShareError, match="wrapped for another public key"):
        _open(bundle, ca, parties[PARTY_NAMES[2]], PARTY_NAMES[1])
    with pytest.raises(KeyShareError, match="no key for party 'party_9'"):
        _open(bundle, ca, parties[PARTY_NAMES[1]], "party_9")


@pytest.mark.parametrize(
    ("recipient_issuer", "valid_days", "reason"),
    [
        ("rogue", (-1, 365), "party 'party_3'.s certificate is not issued by the training's CA"),
        ("ca", (-30, -1), "party 'party_3'.s certificate expired on"),
        ("ca", (5, 365), "party 'party_3'.s certificate is not valid before"),
    ],
)
def test_sealing_refuses_untrustworthy_recipients(
    level_1_keyring: SecretKeyring,
    ca: Identity,
    parties: dict[str, Identity],
    recipient_issuer: str,
    valid_days: tuple[int, int],
    reason: str,
) -> None:
    issuer = make_ca("rogue CA") if recipient_issuer == "rogue" else ca
    recipients = _recipients(parties)
    recipients[PARTY_NAMES[2]] = issue(issuer, PARTY_NAMES[2], valid_days=valid_days).cert_pem
    signer = parties[SIGNER]
    with pytest.raises(KeyShareError, match=reason):
        seal_keyring(level_1_keyring, TRAINING_ID, signer.key_pem, signer.cert_pem, recipients, ca.cert_pem)


def test_sealing_requires_the_signer_to_be_a_party(
    level_1_keyring: SecretKeyring, ca: Identity, parties: dict[str, Identity]
) -> None:
    signer = parties[SIGNER]
    others = {name: party.cert_pem for name, party in parties.items() if name != SIGNER}
    with pytest.raises(KeyShareError, match="signer must be one of the recipients"):
        seal_keyring(level_1_keyring, TRAINING_ID, signer.key_pem, signer.cert_pem, others, ca.cert_pem)
    wrong_key = parties[PARTY_NAMES[1]].key_pem
    with pytest.raises(KeyShareError, match="private key does not match"):
        seal_keyring(
            level_1_keyring, TRAINING_ID, wrong_key, signer.cert_pem, _recipients(parties), ca.cert_pem
        )


def test_production_sized_rsa_4096_keys_work(level_1_keyring: SecretKeyring, ca: Identity) -> None:
    parties = {name: issue(ca, name, key=new_key(4096)) for name in PARTY_NAMES[:2]}
    signer = parties[SIGNER]
    bundle = seal_keyring(
        level_1_keyring, TRAINING_ID, signer.key_pem, signer.cert_pem, _recipients(parties), ca.cert_pem
    )
    opened = _open(bundle, ca, parties[PARTY_NAMES[1]])
    assert opened.matches_context(level_1_keyring.public_context())
    assert opened.parameters.name == "encryption_level_1"


def test_malformed_bundles_are_rejected(ca: Identity, parties: dict[str, Identity]) -> None:
    malformed = [
        (b"not json", "not valid JSON"),
        (b"{}", "format"),
        (b'{"format": "fldecl-he-keyshare/1"}', "lacks"),
    ]
    for garbage, reason in malformed:
        with pytest.raises(KeyShareError, match=reason):
            _open(garbage, ca, parties[PARTY_NAMES[1]])
