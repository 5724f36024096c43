"""The way back: the sum travels as summed first halves plus one seed entry per contributor."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from fldecl.he import HEError, SecretKeyring, aggregate, contributor_names, contributors, seal_backend, seeds, wire
from fldecl.he.backend import load_backend
from fldecl.he.params import CIPHER_SPECS, CkksParameters
from fldecl.he.seal_backend import RandomHalves, SealBackend

VALUE_COUNT = 5_000
PARTY_NAMES = ("Party_1", "Party_2", "Party_3")
COUNTS, SEED_LIST, FIRST_HALF = 2, 3, 4  # fields of a ciphertext frame


@pytest.fixture(scope="module")
def keyring() -> SecretKeyring:
    return SecretKeyring.generate("encryption_level_1")


@pytest.fixture(scope="module")
def updates() -> np.ndarray:
    return np.random.default_rng(11).uniform(-1, 1, size=(len(PARTY_NAMES), VALUE_COUNT))


@pytest.fixture(scope="module")
def blobs(keyring: SecretKeyring, updates: np.ndarray) -> list[bytes]:
    return [keyring.encrypt(update, name) for name, update in zip(PARTY_NAMES, updates, strict=True)]


@pytest.fixture(scope="module")
def total(keyring: SecretKeyring, blobs: list[bytes]) -> bytes:
    return aggregate(keyring.public_context(), blobs)


def _edit_seed_list(blob: bytes, edit: Callable[[list[seeds.SeedEntry]], list[seeds.SeedEntry]], recount: bool) -> bytes:
    """The blob with its seed list edited and a valid checksum, as an aggregator that meant it would make it."""
    fields = wire.unpack(blob, wire.Kind.CIPHERTEXT)
    entries = edit(seeds.unpack_list(fields[SEED_LIST]))
    fields[SEED_LIST] = seeds.pack_list(entries)
    if recount:
        value_count = int.from_bytes(fields[COUNTS][:8], "little")
        fields[COUNTS] = value_count.to_bytes(8, "little") + len(entries).to_bytes(4, "little")
    return wire.pack(wire.Kind.CIPHERTEXT, fields)


def test_the_sum_comes_back_as_small_as_an_update_went_up(
    keyring: SecretKeyring, updates: np.ndarray, blobs: list[bytes], total: bytes
) -> None:
    entry_size = 1 + len("Party_1") + seeds.SEED_SIZE + seeds.TAG_SIZE
    assert len(total) == len(blobs[0]) + 2 * entry_size
    assert contributors(total) == 3 and contributor_names(total) == list(PARTY_NAMES)
    np.testing.assert_allclose(keyring.decrypt(total), updates.sum(axis=0), atol=1e-6)


def test_every_ciphertext_gets_fresh_randomness(keyring: SecretKeyring) -> None:
    per_ciphertext = keyring.parameters.values_per_ciphertext
    zeros = np.zeros(3 * per_ciphertext)
    first, second = (wire.unpack(keyring.encrypt(zeros, "Party_1"), wire.Kind.CIPHERTEXT) for _ in range(2))
    # Equal plaintexts, yet no two first halves agree: within an update or across updates.
    halves = first[FIRST_HALF:] + second[FIRST_HALF:]
    assert len(set(halves)) == len(halves) == 6
    assert seeds.unpack_list(first[SEED_LIST])[0].seed != seeds.unpack_list(second[SEED_LIST])[0].seed


def _assert_uniform_below(rows: np.ndarray, modulus: int) -> None:
    """Every residue below the modulus; mean, and counts in 64 equal bins (chi-square, 63 degrees of freedom), as a uniform sample's."""
    sample = rows.reshape(-1)
    assert sample.dtype == np.uint64 and int(sample.max()) < modulus
    fractions = sample.astype(np.float64) / modulus
    assert abs(fractions.mean() - 0.5) < 5 * np.sqrt(1 / 12 / sample.size)
    counts = np.bincount((fractions * 64).astype(np.int64), minlength=64)
    expected = sample.size / 64
    assert float(((counts - expected) ** 2 / expected).sum()) < 120  # p < 1e-5 for a uniform sample


@pytest.mark.parametrize("name", list(CIPHER_SPECS))
def test_random_halves_are_uniform_below_the_prime_and_fixed_by_seed_and_index(name: str) -> None:
    backend = SealBackend(CIPHER_SPECS[name])
    seed = bytes(range(32))
    rows = backend.random_halves()(seed, 0, 64).copy()  # the rows returned are valid until the next call
    assert rows.shape == (64, backend.degree)
    _assert_uniform_below(rows, backend.modulus)
    assert np.array_equal(backend.random_halves()(seed, 0, 64), rows)
    in_order = backend.random_halves()
    assert np.array_equal(in_order(seed, 0, 10), rows[:10])
    assert np.array_equal(in_order(seed, 10, 13), rows[10:13])  # the stream goes on
    assert np.array_equal(in_order(seed, 20, 21), rows[20:21])  # a chunk reads its own stretch, wherever it starts
    assert np.array_equal(in_order(bytes(32), 0, 2), backend.random_halves()(bytes(32), 0, 2))  # each seed has its own stream
    assert np.array_equal(in_order(seed, 21, 22), rows[21:22])
    assert len({row.tobytes() for row in rows}) == 64
    other = backend.random_halves()(bytes(32), 0, 64)
    assert not np.any(np.all(other == rows, axis=1))


def test_rejected_words_are_replaced_from_a_spare_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    """A prime just above a power of two rejects half the words drawn; with no margin, most rows need their spare stream."""
    modulus, degree = (1 << 40) + 15, 256
    monkeypatch.setattr(seal_backend, "_draws_per_row", lambda degree, modulus: degree)
    rows = RandomHalves(degree, modulus)(bytes(32), 0, 200).copy()
    _assert_uniform_below(rows, modulus)
    assert np.array_equal(RandomHalves(degree, modulus)(bytes(32), 7, 9), rows[7:9])
    assert len({row.tobytes() for row in rows}) == 200
    monkeypatch.undo()
    with_margin = RandomHalves(degree, modulus)(bytes(32), 0, 200).copy()
    _assert_uniform_below(with_margin, modulus)
    assert np.array_equal(RandomHalves(degree, modulus)(bytes(32), 5, 6), with_margin[5:6])


def test_a_party_decrypts_what_it_encrypted_only_with_the_right_seed(keyring: SecretKeyring) -> None:
    backend = load_backend(keyring.parameters)
    assert isinstance(backend, SealBackend)
    cipher = backend.cipher(wire.unpack(keyring.to_bytes(), wire.Kind.SECRET_KEYRING)[-1])
    values = np.random.default_rng(3).uniform(-1, 1, 2 * backend.degree)
    first_halves = np.concatenate([rows.copy() for rows in cipher.encrypt(values, bytes(32))])  # each batch lasts until the next
    decrypted = np.concatenate(list(cipher.decrypt(first_halves, [bytes(32)])))
    assert np.max(np.abs(decrypted - values)) < 1e-6
    wrong = np.concatenate(list(cipher.decrypt(first_halves, [bytes(31) + b"\1"])))
    assert np.max(np.abs(wrong - values)) > 100  # noise over the whole range of the prime


@pytest.mark.parametrize("spec", list(CIPHER_SPECS.values()), ids=list(CIPHER_SPECS))
def test_the_inverse_transform_of_one_polynomial_is_seals_own_transform_of_a_ciphertext(spec: CkksParameters) -> None:
    import seal

    backend = load_backend(spec)
    assert isinstance(backend, SealBackend)
    secret_key = backend.generate_secret_key()
    decryptor = seal.Decryptor(backend.context, backend.context.from_secret_str(secret_key))
    random = np.random.default_rng(spec.poly_modulus_degree)
    first, second = random.integers(0, backend.modulus, size=(2, backend.degree), dtype=np.uint64)
    ciphertext, plaintext = seal.Ciphertext(), seal.Plaintext()
    decryptor.decrypt(backend.load(ciphertext, [first.data, np.zeros_like(first).data]), plaintext)  # first + 0*s: first itself
    backend.load(ciphertext, [first.data, second.data])
    backend.evaluator.transform_from_ntt_inplace(ciphertext)
    assert np.array_equal(seal_backend.InverseTransform(backend)(plaintext), backend.polynomials(ciphertext)[0])


def test_chunks_hold_64k_values_unless_the_update_is_too_small_for_that_within_3x(keyring: SecretKeyring) -> None:
    for spec in CIPHER_SPECS.values():
        backend = load_backend(spec)
        assert isinstance(backend, SealBackend)
        wire_bytes = spec.wire_bits / 8
        encryption, decryption = (wire_bytes, seal_backend._ENCRYPTION_CHUNK_BYTES), (8, seal_backend._DECRYPTION_CHUNK_BYTES)
        for uses in (encryption, decryption):
            assert backend.rows_per_chunk(1 << 20, *uses) * backend.degree == 65_536
        assert backend.rows_per_chunk(1, *encryption) == backend.rows_per_chunk(1, *decryption) == 1
        small = -(-232_220 // backend.degree)
        assert 1 <= backend.rows_per_chunk(small, *decryption) <= backend.rows_per_chunk(small, *encryption) < 65_536 // backend.degree


def test_an_update_in_chunks_of_two_ciphertexts_round_trips_the_last_chunk_shorter(
    keyring: SecretKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    degree = keyring.parameters.poly_modulus_degree
    chunks: list[tuple[int, int]] = []
    expand = seal_backend.RandomHalves.__call__

    def recording(random_halves: seal_backend.RandomHalves, seed: bytes, start: int, stop: int) -> np.ndarray:
        chunks.append((start, stop))
        return expand(random_halves, seed, start, stop)

    monkeypatch.setattr(seal_backend.SealBackend, "rows_per_chunk", lambda backend, ciphertexts, output_bytes, chunk_bytes: 2)
    monkeypatch.setattr(seal_backend.RandomHalves, "__call__", recording)
    values = np.random.default_rng(8).uniform(-1, 1, 5 * degree - 3)
    encrypted = keyring.encrypt(values, "Party_1")
    assert chunks == [(0, 2), (2, 4), (4, 5)]
    np.testing.assert_allclose(keyring.decrypt(encrypted), values, atol=keyring.parameters.worst_case_error)
    assert chunks == [(0, 2), (2, 4), (4, 5)] * 2


def test_coefficient_encoding_keeps_each_values_noise_to_itself(keyring: SecretKeyring) -> None:
    degree = keyring.parameters.poly_modulus_degree
    values = np.random.default_rng(5).uniform(-1, 1, size=3 * degree)
    # Each value is rounded into its own coefficient: it comes back within the worst case, whatever its neighbours.
    np.testing.assert_allclose(keyring.decrypt(keyring.encrypt(values, "Party_1")), values, atol=keyring.parameters.worst_case_error)
    # A single nonzero coefficient: its neighbours decrypt to zero within the wire rounding, not to its noise.
    spike = np.zeros(degree)
    spike[7] = 100.0
    decrypted = keyring.decrypt(keyring.encrypt(spike, "Party_1"))
    assert abs(decrypted[7] - 100.0) <= keyring.parameters.worst_case_error
    assert np.max(np.abs(np.delete(decrypted, 7))) <= keyring.parameters.worst_case_error


def test_a_party_decrypts_its_own_update_from_first_halves_and_its_seed(
    keyring: SecretKeyring, updates: np.ndarray, blobs: list[bytes]
) -> None:
    np.testing.assert_allclose(keyring.decrypt(blobs[1]), updates[1], atol=1e-6)


def test_an_altered_seed_is_caught_by_its_tag(keyring: SecretKeyring, total: bytes) -> None:
    def flip(entries: list[seeds.SeedEntry]) -> list[seeds.SeedEntry]:
        seed = bytearray(entries[1].seed)
        seed[0] ^= 0x01
        return [entries[0], seeds.SeedEntry(entries[1].contributor, bytes(seed), entries[1].tag), entries[2]]

    with pytest.raises(HEError, match="the seed list was altered: the seed of 'Party_2' was not made with this training's key"):
        keyring.decrypt(_edit_seed_list(total, flip, recount=False))


def test_a_relabelled_seed_is_caught_by_its_tag(keyring: SecretKeyring, total: bytes) -> None:
    def relabel(entries: list[seeds.SeedEntry]) -> list[seeds.SeedEntry]:
        return [*entries[:2], seeds.SeedEntry("Party_4", entries[2].seed, entries[2].tag)]

    with pytest.raises(HEError, match="the seed of 'Party_4' was not made with this training's key"):
        keyring.decrypt(_edit_seed_list(total, relabel, recount=False))


def test_a_seed_from_another_training_is_caught_by_its_tag(keyring: SecretKeyring, total: bytes) -> None:
    stranger = SecretKeyring.generate("encryption_level_1")
    forged_key = seeds.tag_key(b"what the aggregator could guess")
    forged_entries = [
        seeds.unpack_list(wire.unpack(stranger.encrypt(np.zeros(VALUE_COUNT), "Party_4"), wire.Kind.CIPHERTEXT)[SEED_LIST])[0],
        seeds.make_entry(forged_key, b"", "Party_5", bytes(seeds.SEED_SIZE)),
    ]
    for forged in forged_entries:
        with pytest.raises(HEError, match="the seed list was altered"):
            keyring.decrypt(_edit_seed_list(total, lambda entries, forged=forged: [*entries, forged], recount=True))


def test_a_truncated_seed_list_is_caught_by_the_count(keyring: SecretKeyring, total: bytes) -> None:
    truncated = _edit_seed_list(total, lambda entries: entries[:-1], recount=False)
    with pytest.raises(HEError, match="ciphertext is corrupt: its seed list has 2 seeds for 3 contributors"):
        keyring.decrypt(truncated)
    with pytest.raises(HEError, match="its seed list has 2 seeds for 3 contributors"):
        aggregate(keyring.public_context(), [truncated])
    cut = bytearray(wire.unpack(total, wire.Kind.CIPHERTEXT)[SEED_LIST])
    fields = wire.unpack(total, wire.Kind.CIPHERTEXT)
    fields[SEED_LIST] = bytes(cut[:-5])
    with pytest.raises(HEError, match="its seed list is truncated or malformed"):
        keyring.decrypt(wire.pack(wire.Kind.CIPHERTEXT, fields))


def test_a_seed_list_that_does_not_match_the_halves_is_caught_by_the_range(keyring: SecretKeyring, total: bytes) -> None:
    dropped = _edit_seed_list(total, lambda entries: entries[:-1], recount=True)
    with pytest.raises(HEError, match=r"beyond \+-256 .*its seed list does not match its ciphertexts"):
        keyring.decrypt(dropped)
    fourth = seeds.unpack_list(wire.unpack(keyring.encrypt(np.zeros(VALUE_COUNT), "Party_4"), wire.Kind.CIPHERTEXT)[SEED_LIST])
    added = _edit_seed_list(total, lambda entries: [*entries, *fourth], recount=True)  # authentic, but its halves are not in the sum
    with pytest.raises(HEError, match="its seed list does not match its ciphertexts"):
        keyring.decrypt(added)


def test_an_update_counted_twice_is_refused(keyring: SecretKeyring, blobs: list[bytes]) -> None:
    with pytest.raises(HEError, match="repeats a seed of 'Party_1'"):
        aggregate(keyring.public_context(), [blobs[0], blobs[0]])
    again = keyring.encrypt(np.zeros(VALUE_COUNT), "Party_1")
    with pytest.raises(HEError, match="names 'Party_1' twice"):
        aggregate(keyring.public_context(), [blobs[0], again])


def test_contributor_names_are_one_to_255_bytes(keyring: SecretKeyring) -> None:
    for name in ("", "x" * 256):
        with pytest.raises(HEError, match="a contributor name takes 1 to 255 bytes"):
            keyring.encrypt(np.zeros(10), name)
