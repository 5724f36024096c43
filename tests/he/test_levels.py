"""Encryption levels: precision, the size of both legs, and the parameter table."""

from __future__ import annotations

import subprocess
import sys
from itertools import pairwise

import numpy as np
import pytest

from fldecl.he import CIPHER_SPECS, HEError, SecretKeyring, aggregate, contributors
from fldecl.he.params import SUM_RANGE_BITS, cipher_spec

SEED_MODEL_VALUES = 232_220  # the seed's MLP 784-256-100-50-10
PARTY_COUNT = 3
FLOAT32_BYTES = 4
# SEAL's coeff-modulus caps for 128/192/256-bit security (HomomorphicEncryption.org standard).
SECURITY_CAPS = {
    2048: {128: 54, 192: 37, 256: 29},
    4096: {128: 109, 192: 75, 256: 58},
    8192: {128: 218, 192: 152, 256: 118},
    16384: {128: 438, 192: 305, 256: 237},
}


def _updates(value_count: int, seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1.0, 1.0, size=(PARTY_COUNT, value_count))


def _round_trip(keyring: SecretKeyring, updates: np.ndarray) -> tuple[np.ndarray, list[bytes], bytes]:
    blobs = [keyring.encrypt(update, f"Party_{index + 1}") for index, update in enumerate(updates)]
    total = aggregate(keyring.public_context(), blobs)
    return keyring.decrypt(total) / contributors(total), blobs, total


def test_level_1_meets_its_targets_on_the_seed_model(level_1_keyring: SecretKeyring) -> None:
    updates = _updates(SEED_MODEL_VALUES)
    mean, blobs, total = _round_trip(level_1_keyring, updates)

    assert mean.shape == (SEED_MODEL_VALUES,)
    assert contributors(total) == PARTY_COUNT
    assert np.max(np.abs(mean - updates.mean(axis=0))) < 1e-6
    plaintext_bytes = SEED_MODEL_VALUES * FLOAT32_BYTES
    upload = max(map(len, blobs))
    assert upload <= 1.35 * plaintext_bytes
    assert len(total) <= 1.45 * plaintext_bytes
    assert upload + len(total) <= 1.4 * 2 * plaintext_bytes


@pytest.mark.parametrize("name", list(CIPHER_SPECS))
def test_both_legs_cost_the_wire_width_and_no_more(name: str) -> None:
    keyring = SecretKeyring.generate(name)
    parameters = keyring.parameters
    _, blobs, total = _round_trip(keyring, _updates(3 * parameters.values_per_ciphertext))
    packed = 3 * parameters.values_per_ciphertext * parameters.wire_bits // 8
    seed_entry = 1 + len("Party_1") + 32 + 16
    frame = 200  # ids, counts, field lengths and checksum
    for blob in blobs:
        assert packed < len(blob) <= packed + seed_entry + frame
    assert packed < len(total) <= packed + PARTY_COUNT * seed_entry + frame


def test_each_level_is_more_precise_than_the_one_before_and_within_its_worst_case() -> None:
    updates = _updates(20_000)
    errors = []
    for name, parameters in CIPHER_SPECS.items():
        keyring = SecretKeyring.generate(name)
        mean, _, _ = _round_trip(keyring, updates)
        errors.append(float(np.max(np.abs(mean - updates.mean(axis=0)))))
        alone = keyring.decrypt(keyring.encrypt(updates[0], "Party_1"))
        for error in (errors[-1], float(np.max(np.abs(alone - updates[0])))):
            assert error <= parameters.worst_case_error < parameters.max_error / 5, (name, error)
    for lower, higher in pairwise(errors):
        assert higher < lower, errors


@pytest.mark.parametrize("name", list(CIPHER_SPECS))
def test_parameters_respect_the_security_cap(name: str) -> None:
    parameters = CIPHER_SPECS[name]
    assert parameters.name == name
    cap = SECURITY_CAPS[parameters.poly_modulus_degree][parameters.security_bits]
    assert sum(parameters.coeff_modulus_bits) <= cap
    assert parameters.data_modulus_bits - parameters.wire_bits == 8  # the noise stays in bits that never travel
    assert parameters.security_bits >= 128
    assert parameters.max_abs_sum == 2**SUM_RANGE_BITS >= 2**8
    SecretKeyring.generate(name)  # SEAL itself enforces the cap for the stated security level


def test_levels_grow_in_security_and_size() -> None:
    levels = list(CIPHER_SPECS.values())
    for lower, higher in pairwise(levels):
        assert higher.scale_bits > lower.scale_bits
        assert higher.wire_bits > lower.wire_bits
        assert higher.max_error < lower.max_error
        assert higher.data_modulus_bits > lower.data_modulus_bits
        assert higher.security_bits >= lower.security_bits
        assert higher.poly_modulus_degree >= lower.poly_modulus_degree


def test_any_length_round_trips_including_partial_ciphertexts(level_1_keyring: SecretKeyring) -> None:
    per_ciphertext = level_1_keyring.parameters.values_per_ciphertext
    for value_count in (1, per_ciphertext - 1, per_ciphertext, per_ciphertext + 1):
        vector = np.linspace(-1, 1, value_count)
        decrypted = level_1_keyring.decrypt(level_1_keyring.encrypt(vector, "Party_1"))
        assert decrypted.shape == (value_count,)
        assert np.max(np.abs(decrypted - vector)) < 1e-6


@pytest.mark.parametrize("name", list(CIPHER_SPECS))
def test_sums_may_reach_the_documented_range(name: str) -> None:
    keyring = SecretKeyring.generate(name)
    limit = keyring.parameters.max_abs_sum
    big = np.full(keyring.parameters.values_per_ciphertext, 0.49 * limit)
    big[1::2] *= -1
    blobs = [keyring.encrypt(big, "Party_1"), keyring.encrypt(big, "Party_2")]
    total = aggregate(keyring.public_context(), blobs)
    assert np.max(np.abs(keyring.decrypt(total) - 2 * big)) < keyring.parameters.max_error


def test_a_sum_beyond_the_range_is_refused_not_returned_wrong(level_1_keyring: SecretKeyring) -> None:
    big = np.full(100, 0.6 * level_1_keyring.parameters.max_abs_sum)
    blobs = [level_1_keyring.encrypt(big, "Party_1"), level_1_keyring.encrypt(big, "Party_2")]
    total = aggregate(level_1_keyring.public_context(), blobs)
    with pytest.raises(HEError, match="beyond \\+-256"):
        level_1_keyring.decrypt(total)


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        (np.array([0.5, np.nan]), "NaN"),
        (np.array([1e6]), "range"),
        (np.zeros((2, 2)), "flat vector"),
        (np.array([]), "flat vector"),
    ],
)
def test_encrypt_rejects_values_it_cannot_carry(
    level_1_keyring: SecretKeyring, values: np.ndarray, reason: str
) -> None:
    with pytest.raises(HEError, match=reason):
        level_1_keyring.encrypt(values, "Party_1")


def test_unknown_cipher_spec_lists_the_known_ones() -> None:
    with pytest.raises(HEError, match="encryption_level_1"):
        cipher_spec("encryption_level_9")


def test_importing_the_package_does_not_load_tenseal() -> None:
    probe = "import sys, fldecl.he, fldecl.he.keyshare; print('tenseal' in sys.modules or 'seal' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
