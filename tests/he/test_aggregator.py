"""The aggregator's side: it holds no secret, and it rejects anything it cannot safely add."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from blake3 import blake3

from fldecl.he import HEError, SecretKeyring, aggregate, contributors, wire
from fldecl.he.params import CIPHER_SPECS

VALUE_COUNT = 5_000
FIRST_HALF = 4  # frame fields: parameters id, key id, counts, seed list, then one first half per ciphertext


@pytest.fixture(scope="module")
def keyring() -> SecretKeyring:
    return SecretKeyring.generate("encryption_level_1")


@pytest.fixture(scope="module")
def update(keyring: SecretKeyring) -> bytes:
    return keyring.encrypt(np.linspace(-1, 1, VALUE_COUNT), "Party_1")


@pytest.fixture(scope="module")
def other_update(keyring: SecretKeyring) -> bytes:
    return keyring.encrypt(np.linspace(-0.5, 0.5, VALUE_COUNT), "Party_2")


def _rebuild(blob: bytes, replace: dict[int, bytes]) -> bytes:
    """A blob with some fields swapped and a valid checksum, as a deliberate forger would make it."""
    fields = wire.unpack(blob, wire.Kind.CIPHERTEXT)
    return wire.pack(wire.Kind.CIPHERTEXT, [replace.get(index, field) for index, field in enumerate(fields)])


@pytest.mark.parametrize("name", list(CIPHER_SPECS))
def test_public_context_is_too_small_to_hold_a_secret_key(name: str) -> None:
    keyring = SecretKeyring.generate(name)
    public_context = keyring.public_context()
    # A ternary secret of N coefficients carries N*log2(3) bits; fewer bytes cannot contain it.
    secret_key_entropy_bytes = keyring.parameters.poly_modulus_degree * math.log2(3) / 8
    assert len(public_context) < secret_key_entropy_bytes
    fields = wire.unpack(public_context, wire.Kind.PUBLIC_CONTEXT)
    assert fields[0] == keyring.parameters.to_json()
    assert len(fields[1]) == 16  # the random key id
    secret_key = wire.unpack(keyring.to_bytes(), wire.Kind.SECRET_KEYRING)[-1]
    assert len(secret_key) > 10 * len(public_context)


def test_public_context_cannot_stand_in_for_a_keyring(keyring: SecretKeyring) -> None:
    with pytest.raises(HEError, match="expected a secret keyring, got public context"):
        SecretKeyring.from_bytes(keyring.public_context())
    fields = wire.unpack(keyring.public_context(), wire.Kind.PUBLIC_CONTEXT)
    relabelled = wire.pack(wire.Kind.SECRET_KEYRING, [*fields, fields[-1]])
    with pytest.raises(HEError, match="secret keyring is corrupt"):
        SecretKeyring.from_bytes(relabelled)


def test_only_the_training_keyring_decrypts_the_sum(keyring: SecretKeyring, update: bytes, other_update: bytes) -> None:
    total = aggregate(keyring.public_context(), [update, other_update])
    other_training = SecretKeyring.generate("encryption_level_1")
    with pytest.raises(HEError, match="another training's key"):
        other_training.decrypt(total)
    assert np.allclose(keyring.decrypt(total), 1.5 * np.linspace(-1, 1, VALUE_COUNT), atol=1e-6)


def test_keyring_survives_serialization(keyring: SecretKeyring, update: bytes) -> None:
    restored = SecretKeyring.from_bytes(keyring.to_bytes())
    assert restored.matches_context(keyring.public_context())
    assert np.allclose(restored.decrypt(update), np.linspace(-1, 1, VALUE_COUNT), atol=1e-6)


def test_aggregates_of_aggregates_count_every_contributor(keyring: SecretKeyring, update: bytes, other_update: bytes) -> None:
    context = keyring.public_context()
    third = keyring.encrypt(np.linspace(-1, 1, VALUE_COUNT), "Party_3")
    partial = aggregate(context, [update, other_update])
    total = aggregate(context, [partial, third])
    assert contributors(update) == 1
    assert contributors(total) == 3
    assert np.allclose(keyring.decrypt(total) / 3, 2.5 / 3 * np.linspace(-1, 1, VALUE_COUNT), atol=1e-6)


def test_flipped_byte_is_rejected(keyring: SecretKeyring, update: bytes) -> None:
    tampered = bytearray(update)
    tampered[len(tampered) // 2] ^= 0x01
    with pytest.raises(HEError, match="ciphertext is corrupt: checksum mismatch"):
        aggregate(keyring.public_context(), [update, bytes(tampered)])


def test_a_blob_of_an_older_format_is_refused_by_version_not_decrypted_to_noise(keyring: SecretKeyring, update: bytes) -> None:
    """Format 4 expanded random halves with SEAL's Blake2xb: such a blob is refused by its version, by both sides."""
    older = bytearray(update[: -len(blake3().digest())])
    older[len(wire.MAGIC)] = wire.FORMAT_VERSION - 1
    blob = bytes(older) + blake3(older).digest()
    message = f"ciphertext has format version {wire.FORMAT_VERSION - 1}; this fldecl reads {wire.FORMAT_VERSION}"
    with pytest.raises(HEError, match=message):
        aggregate(keyring.public_context(), [update, blob])
    with pytest.raises(HEError, match=message):
        keyring.decrypt(blob)


def test_truncated_blob_is_rejected(keyring: SecretKeyring, update: bytes) -> None:
    with pytest.raises(HEError, match="ciphertext is corrupt"):
        aggregate(keyring.public_context(), [update, update[:-100]])


def test_wrong_length_update_is_rejected(keyring: SecretKeyring, update: bytes) -> None:
    short = keyring.encrypt(np.zeros(1200), "Party_2")
    with pytest.raises(HEError, match="update has 1200 values, expected 5000"):
        aggregate(keyring.public_context(), [update, short])
    with pytest.raises(HEError, match="update has 1200 values, expected 1210"):
        aggregate(keyring.public_context(), [short], expected_values=1210)


def test_blob_from_other_parameters_is_rejected(keyring: SecretKeyring, update: bytes) -> None:
    level_2_update = SecretKeyring.generate("encryption_level_2").encrypt(np.zeros(VALUE_COUNT), "Party_2")
    with pytest.raises(HEError, match="ciphertext does not match the training's encryption parameters"):
        aggregate(keyring.public_context(), [update, level_2_update])


def test_blob_under_another_key_is_rejected(keyring: SecretKeyring, update: bytes) -> None:
    stranger = SecretKeyring.generate("encryption_level_1").encrypt(np.zeros(VALUE_COUNT), "Party_2")
    with pytest.raises(HEError, match="encryption parameters: it was encrypted under another training's key"):
        aggregate(keyring.public_context(), [update, stranger])


def test_missing_ciphertext_is_rejected(keyring: SecretKeyring, update: bytes) -> None:
    fields = wire.unpack(update, wire.Kind.CIPHERTEXT)
    shortened = wire.pack(wire.Kind.CIPHERTEXT, fields[:-1])
    with pytest.raises(HEError, match="ciphertext is corrupt: 2 ciphertexts for 5000 values, expected 3"):
        aggregate(keyring.public_context(), [update, shortened])


def test_a_foreign_first_half_behind_a_valid_checksum_is_rejected(
    keyring: SecretKeyring, update: bytes, other_update: bytes
) -> None:
    level_2_update = SecretKeyring.generate("encryption_level_2").encrypt(np.zeros(10), "Party_2")
    foreign_half = wire.unpack(level_2_update, wire.Kind.CIPHERTEXT)[FIRST_HALF]
    forged = _rebuild(other_update, {FIRST_HALF: foreign_half})
    with pytest.raises(HEError, match="ciphertext is corrupt: 23040 bytes where a ciphertext of these parameters takes 10752"):
        aggregate(keyring.public_context(), [update, forged])
    with pytest.raises(HEError, match="23040 bytes where a ciphertext of these parameters takes 10752"):
        keyring.decrypt(forged)


def test_empty_aggregation_and_bad_context_are_rejected(keyring: SecretKeyring, update: bytes) -> None:
    with pytest.raises(HEError, match="nothing to aggregate"):
        aggregate(keyring.public_context(), [])
    with pytest.raises(HEError, match="expected a public context, got ciphertext"):
        aggregate(update, [update])


def test_context_with_parameters_outside_the_table_is_rejected(keyring: SecretKeyring) -> None:
    fields = wire.unpack(keyring.public_context(), wire.Kind.PUBLIC_CONTEXT)
    weakened = dataclasses.replace(keyring.parameters, security_bits=128, scale_bits=20)
    forged = wire.pack(wire.Kind.PUBLIC_CONTEXT, [weakened.to_json(), *fields[1:]])
    with pytest.raises(HEError, match="differ from this fldecl's encryption_level_1"):
        aggregate(forged, [])


def test_context_whose_seal_parameters_disagree_with_its_level_is_rejected(keyring: SecretKeyring) -> None:
    fields = wire.unpack(keyring.public_context(), wire.Kind.PUBLIC_CONTEXT)
    level_2_context = SecretKeyring.generate("encryption_level_2").public_context()
    level_2_seal_parameters = wire.unpack(level_2_context, wire.Kind.PUBLIC_CONTEXT)[2]
    forged = wire.pack(wire.Kind.PUBLIC_CONTEXT, [*fields[:2], level_2_seal_parameters])
    with pytest.raises(HEError, match="public context does not describe encryption_level_1"):
        aggregate(forged, [])
