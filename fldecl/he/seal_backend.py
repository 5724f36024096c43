"""CKKS on Microsoft SEAL through its Python bindings (``seal-python``, MIT).

Parties encrypt symmetrically (each of them holds the secret key s), so a fresh ciphertext is
(c0, c1) = (m + e - a*s, a) with ``a`` uniformly random. Only c0 leaves the party, in the
coefficient domain, rounded and packed to the level's wire width (:mod:`fldecl.he.packing`); ``a``
travels as the party's fresh per-update seed, from which every holder of the key expands it again.

The expansion (:class:`RandomHalves`) is AES-256 in counter mode (``cryptography``, on the CPU's
AES instructions), keyed by a hash of the seed: 64-bit words cut to the prime's bit length, kept
when below the prime. Rejection sampling makes each kept word uniform modulo the prime, and ``a``
is taken as a polynomial in NTT form, SEAL's convention for the random half of its own seeded
ciphertexts (uniform in one domain is uniform in the other). Ciphertext k of an update reads its
own stretch of the key stream, so no two ciphertexts, updates or contributors share a key and
counter block, and a batch of ciphertexts is one AES call and one numpy pass. Only the public half
is drawn this way (the seed travels in the clear, as ``a`` would in a full ciphertext); the noise
``e``, the secret key and every product with it stay SEAL's. This replaces SEAL's own expansion of
a seeded ciphertext (Blake2xb, one ciphertext per call, a third of an ``encrypt_symmetric``).

SEAL computes the mask ``e - a*s`` of each ciphertext, one ciphertext at a time: its own fresh
encryption of zero (c0' = e - a'*s, a'), e from its own noise sampler, minus the ciphertext (0, a)
is (c0', a' - a), and SEAL's decryption of that, c0' + (a' - a)*s, is e - a*s in the NTT domain.
SEAL's inverse NTT of that one polynomial (:class:`InverseTransform`) brings it to the coefficient
domain, where the message sits in the plaintext's coefficients (``round(value * scale)``), so the
noise of a coefficient stays in that coefficient and one ciphertext carries N values; numba adds
the message, rounds and packs (:mod:`fldecl.he.codec`). Bytes cross the bindings in SEAL's own
uncompressed serialization, with no file and no call per coefficient, and a party holds SEAL's
objects of one ciphertext at a time, whatever the size of the update.

The aggregator adds the wire values modulo 2**wire_bits and keeps every contributor's seed; SEAL is
not needed for that. A party decrypts a sum by expanding every contributor's ``a``, adding them
modulo the prime in numpy, and letting SEAL decrypt (0, sum a) into (sum a)*s the same way: the
sum of the first halves plus that is the sum of the messages and noises.
"""

from __future__ import annotations

import functools
import hashlib
import math
import struct
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes
from numpy.typing import NDArray

from fldecl.he import packing, workers
from fldecl.he.errors import HEError
from fldecl.he.packing import Packed, Words
from fldecl.he.params import CkksParameters
from fldecl.he.wire import Buffer

_SECURITY_LEVELS = {128: "tc128", 192: "tc192", 256: "tc256"}

# SEAL 4's serialization, written uncompressed (compr_mode_type::none). Every object starts with a
# header: magic, header size, version major and minor, compression mode, reserved, total size.
_SEAL_MAGIC = 0xA15E
_HEADER = struct.Struct("<HBBBBHQ")
_COMPRESSION_NONE = 0
# A ciphertext's members: parms_id, is_ntt_form, size (polynomials), poly_modulus_degree,
# coeff_modulus_size, scale, correction_factor; then its polynomials as a DynArray (header, u64
# count, words).
_METADATA = struct.Struct("<4QBQQQdQ")
_COUNT = struct.Struct("<Q")
_KEY_PERSONALIZATION = b"fldecl-he a"
_AES_BLOCK = 16
# Counter blocks of a ciphertext's spare draws, for the rare random half that rejects more words
# than its share of the stream allows: ciphertext k's start at 2**127 + k * 2**64, far from the
# main stream's, which stay below 2**127.
_SPARE_COUNTERS = 1 << 127
_CHUNK_VALUES = 65_536  # values per chunk: what a party holds at once besides its input and output
_MEMORY_MULTIPLE = 3  # a party's peak extra memory, at most, in float32 updates
_FLOAT32_BYTES = 4
# What a party holds besides its input and output, measured with the heap's slack. Per coefficient of a ciphertext:
# SEAL's objects of the one in hand (a fresh encryption, a loaded one, two plaintexts) and their serializations.
_CIPHERTEXT_BYTES = 64
# Per value of a chunk, encrypting: its random halves, the key stream's input, the masks, the packed rows; decrypting:
# the sum of the random halves, each contributor's with the key stream's input, the packed rows' copy, the values.
_ENCRYPTION_CHUNK_BYTES = 48
_DECRYPTION_CHUNK_BYTES = 80
# From this many values on, a party's other cores share its work: a worker (an interpreter with
# numpy and SEAL) holds about 22 MB of its own and takes a second to start (a party keeps its
# workers for later rounds). A decryption's float64 result alone is 2x the float32 update, so the
# worker fits within 3x from here on (at 4 M values a decryption peaked at 3.6x).
PARALLEL_VALUES = 10_000_000


Chunk = tuple[int, int]  # ciphertexts start to stop


def _seal() -> Any:
    import seal  # type: ignore[import-not-found]  # its stub is not a PEP 561 package

    return seal


class RandomHalves:
    """The random halves ``a`` of an update's ciphertexts, expanded from contributors' seeds into one buffer, reused.

    Rows of ``degree`` residues uniform below ``modulus``. Ciphertext k of a seed reads counter
    blocks k*B to (k+1)*B of that seed's key stream, B blocks being its share
    (:func:`_draws_per_row`), and in the rare case that it rejects more words than its share
    allows, its spare stream. Each seed's stream goes on where its last chunk stopped, so an update's
    chunks in order cost one key and one cipher between them. The rows returned are valid until the
    next call: a party's chunks reuse one buffer (see :meth:`SealCipher.encrypt`).
    """

    def __init__(self, degree: int, modulus: int) -> None:
        self._degree, self._modulus = degree, modulus
        self._draws = _draws_per_row(degree, modulus)
        self._streams: dict[bytes, tuple[CipherContext, int]] = {}  # per seed: its cipher, and the row it has reached
        self._buffer: Words = np.empty(0, dtype="<u8")

    def __call__(self, seed: bytes, start: int, stop: int) -> Words:
        """``a`` of ciphertexts ``start`` to ``stop`` of the update whose seed is ``seed``."""
        encryptor, reached = self._streams.get(seed, (None, -1))
        if encryptor is None or reached != start:
            encryptor = _encryptor(_stream_key(seed), start * self._draws * 8 // _AES_BLOCK)
        self._streams[seed] = (encryptor, stop)
        count = (stop - start) * self._draws
        if self._buffer.size < count + 2:  # the cipher wants a block's room beyond the data to write into
            self._buffer = np.empty(count + 2, dtype="<u8")
        words = _draw(encryptor, self._buffer, count, self._modulus).reshape(-1, self._draws)
        if words.max() < np.uint64(self._modulus):  # every word kept, as almost always: each row is its first ``degree`` words
            return words[:, : self._degree]
        return self._rejecting(seed, start, words)

    def _rejecting(self, seed: bytes, start: int, words: Words) -> Words:
        """Each row's first ``degree`` kept words; a row that kept fewer takes the rest from its spare stream."""
        degree, modulus = self._degree, self._modulus
        kept = words < np.uint64(modulus)
        counts = kept.sum(axis=1)
        flat = words[kept]
        taken = (np.cumsum(counts) - counts)[:, np.newaxis] + np.arange(degree)
        rows: Words = flat[np.minimum(taken, flat.size - 1)]  # a short row reads past its share here, and is redone below
        for row in np.flatnonzero(counts < degree):
            rows[row] = _spare_draws(_stream_key(seed), start + int(row), words[row][kept[row]], degree, modulus)
        return rows


def _stream_key(seed: bytes) -> bytes:
    return hashlib.blake2b(digest_size=32, key=seed, person=_KEY_PERSONALIZATION).digest()


def _encryptor(key: bytes, first_block: int) -> CipherContext:
    """AES-256-CTR under ``key`` from counter block ``first_block``."""
    return Cipher(algorithms.AES(key), modes.CTR(first_block.to_bytes(_AES_BLOCK, "big"))).encryptor()


def _draws_per_row(degree: int, modulus: int) -> int:
    """Words drawn per ciphertext: ``degree`` plus the expected rejections and 8 standard deviations, an even number (a block holds 2)."""
    rejected = 1.0 - modulus / 2.0 ** modulus.bit_length()
    spare = (degree * rejected + 8 * math.sqrt(degree * rejected)) / (1.0 - rejected)
    return 2 * ((degree + math.ceil(spare) + 3) // 2)


def _draw(encryptor: CipherContext, room: Words, count: int, modulus: int) -> Words:
    """The next ``count`` words of ``encryptor``'s key stream, into ``room`` (two words longer), each cut to ``modulus``'s bit length."""
    encryptor.update_into(memoryview(_zeros(8 * room.size))[: 8 * count], room.view(np.uint8).data)
    words = room[:count]
    words &= np.uint64((1 << modulus.bit_length()) - 1)
    return words


@functools.lru_cache(maxsize=4)
def _zeros(size: int) -> bytes:
    """The key stream's input, kept for the next update: a new one, past 128 KB, is new pages to fault in."""
    return bytes(size)


def _spare_draws(key: bytes, index: int, kept: Words, degree: int, modulus: int) -> Words:
    """Ciphertext ``index``'s ``a``: its ``kept`` words, then words from its spare stream until it has ``degree``."""
    parts, have = [kept], kept.size
    encryptor = _encryptor(key, _SPARE_COUNTERS + (index << 64))
    room = np.empty(degree + 2, dtype="<u8")
    while have < degree:
        words = _draw(encryptor, room, degree, modulus)
        parts.append(words[words < np.uint64(modulus)])
        have += parts[-1].size
    return np.concatenate(parts)[:degree]


class SealBackend:
    """One SEAL context; see :class:`fldecl.he.backend.CkksBackend`."""

    def __init__(self, parameters: CkksParameters, public_bytes: bytes | None = None) -> None:
        seal = _seal()
        self.seal = seal
        self.parameters = parameters
        if public_bytes is None:
            encryption_parameters = self._build_parameters(parameters)
        else:
            encryption_parameters = self._load_parameters(public_bytes)
        self._encryption_parameters = encryption_parameters
        security = getattr(seal.sec_level_type, _SECURITY_LEVELS.get(parameters.security_bits, ""), None)
        if security is None:
            raise HEError(f"unsupported security level {parameters.security_bits} bits")
        self.context = seal.SEALContext(encryption_parameters, True, security)
        if not self.context.parameters_set():
            reason = self.context.parameter_error_message()
            raise HEError(f"SEAL rejects the parameters of {parameters.name}: {reason}")
        data_moduli = self.context.first_context_data().parms().coeff_modulus()
        if len(data_moduli) != 1:
            raise HEError(f"{parameters.name} needs exactly one data prime: first halves are rounded modulo one prime")
        self.modulus: int = data_moduli[0].value()
        self.scale = 2.0**parameters.scale_bits
        self.degree = parameters.poly_modulus_degree
        self._version = _HEADER.unpack_from(self.public_bytes())[2:4]
        self._parms_id = tuple(self.context.first_parms_id())
        self.evaluator = seal.Evaluator(self.context)
        self._frame_prefixes: dict[tuple[int, bool], bytes] = {}

    def _build_parameters(self, parameters: CkksParameters) -> Any:
        seal = self.seal
        encryption_parameters = seal.EncryptionParameters(seal.scheme_type.ckks)
        degree = parameters.poly_modulus_degree
        encryption_parameters.set_poly_modulus_degree(degree)
        encryption_parameters.set_coeff_modulus(seal.CoeffModulus.Create(degree, list(parameters.coeff_modulus_bits)))
        return encryption_parameters

    def _load_parameters(self, public_bytes: bytes) -> Any:
        """Read received parameters and insist they are the ones the level describes."""
        seal = self.seal
        encryption_parameters = seal.EncryptionParameters(seal.scheme_type.ckks)
        try:
            encryption_parameters.load_bytes(public_bytes)
        except (RuntimeError, ValueError) as error:
            raise HEError(f"public context is corrupt: SEAL cannot load it ({error})") from error
        bits = tuple(modulus.bit_count() for modulus in encryption_parameters.coeff_modulus())
        degree = encryption_parameters.poly_modulus_degree()
        expected = (self.parameters.poly_modulus_degree, self.parameters.coeff_modulus_bits)
        if encryption_parameters.scheme() != seal.scheme_type.ckks or (degree, bits) != expected:
            raise HEError(f"public context does not describe {self.parameters.name}")
        return encryption_parameters

    @property
    def parameters_id(self) -> bytes:
        return struct.pack("<4Q", *self._parms_id)

    @property
    def first_half_size(self) -> int:
        return packing.packed_size(self.degree, self.parameters.wire_bits)

    def public_bytes(self) -> bytes:
        data: bytes = self._encryption_parameters.to_bytes(self.seal.compr_mode_type.none)
        return data

    def generate_secret_key(self) -> bytes:
        data: bytes = self.seal.KeyGenerator(self.context).secret_key().to_string()
        return data

    def cipher(self, secret_key: bytes) -> SealCipher:
        try:
            key = self.context.from_secret_str(secret_key)
        except (RuntimeError, ValueError, TypeError) as error:
            raise HEError(f"secret keyring is corrupt: SEAL cannot load the key ({error})") from error
        return SealCipher(self, key, secret_key)

    def add(self, operands: Sequence[Packed], out: Packed) -> None:
        """Wire values add modulo 2**wire_bits, so the sum is exactly as wide as each term."""
        packing.add_packed(list(operands), out, self.parameters.wire_bits)

    def _header(self, members_size: int) -> bytes:
        return _HEADER.pack(_SEAL_MAGIC, _HEADER.size, *self._version, _COMPRESSION_NONE, 0, _HEADER.size + members_size)

    def _metadata(self, size: int, ntt_form: bool) -> bytes:
        """The members of a ciphertext of ``size`` polynomials that come before its data."""
        return _METADATA.pack(*self._parms_id, int(ntt_form), size, self.degree, 1, self.scale, 1)

    def frame_prefix(self, size: int, ntt_form: bool = True) -> bytes:
        """What comes before the words of a serialized ciphertext of ``size`` polynomials (made once per shape)."""
        prefix = self._frame_prefixes.get((size, ntt_form))
        if prefix is None:
            words = 8 * self.degree * size
            members = self._metadata(size, ntt_form) + self._header(_COUNT.size + words) + _COUNT.pack(self.degree * size)
            prefix = self._frame_prefixes[size, ntt_form] = self._header(len(members) + words) + members
        return prefix

    def random_halves(self) -> RandomHalves:
        """An expansion of random halves for one update (see :class:`RandomHalves`)."""
        return RandomHalves(self.degree, self.modulus)

    def load(self, ciphertext: Any, polynomials: Sequence[Buffer], ntt_form: bool = True) -> Any:
        """``ciphertext`` made of ``polynomials`` (contiguous rows of words), in the NTT domain unless ``ntt_form`` is False."""
        ciphertext.load_bytes(self.context, b"".join([self.frame_prefix(len(polynomials), ntt_form), *polynomials]))
        return ciphertext

    def polynomials(self, ciphertext: Any) -> Words:
        """A ciphertext's polynomials, one row each, read from its serialization."""
        data = ciphertext.to_string(self.seal.compr_mode_type.none)
        return _trailing_words(data, ciphertext.size() * self.degree).reshape(-1, self.degree)

    def rows_per_chunk(self, ciphertexts: int, output_bytes: float, chunk_bytes: int) -> int:
        """Ciphertexts a party handles at once: 64 K values, fewer where that would take its peak memory beyond 3x the float32 update.

        Besides its output (``output_bytes`` per value), a party then holds SEAL's objects of one
        ciphertext (:data:`_CIPHERTEXT_BYTES`) and a chunk's arrays (``chunk_bytes`` per value).
        """
        budget = ciphertexts * self.degree * (_MEMORY_MULTIPLE * _FLOAT32_BYTES - output_bytes) - _CIPHERTEXT_BYTES * self.degree
        rows = int(budget // (chunk_bytes * self.degree))
        return max(1, min(_CHUNK_VALUES // self.degree, rows))


class InverseTransform:
    """SEAL's inverse NTT of one polynomial modulo the data prime, through a BFV batch encoder.

    SEAL transforms ciphertexts, which have two polynomials or more; a party needs one per
    ciphertext back in the coefficient domain (c0 + c1*s, see :meth:`SealCipher._secret_products`),
    and framing it as two would transform it twice. A batch encoder whose plaintext modulus is
    that prime encodes by writing a vector into the NTT domain in its slot order and transforming
    it back, with the tables of the same prime and root. So NTT-form words put in slot order
    come out as their coefficients. The slot order is read from SEAL once: the NTT, by the CKKS
    context, of the encoding of 0 to N-1.
    """

    def __init__(self, backend: SealBackend) -> None:
        seal = backend.seal
        self._degree = backend.degree
        parameters = seal.EncryptionParameters(seal.scheme_type.bfv)
        parameters.set_poly_modulus_degree(backend.degree)
        # It never encrypts: its ciphertext modulus only has to be larger than the prime and coprime to it.
        other_bits = 59 if backend.modulus.bit_length() == 60 else 60
        parameters.set_coeff_modulus(seal.CoeffModulus.Create(backend.degree, [other_bits, other_bits]))
        parameters.set_plain_modulus(backend.modulus)
        context = seal.SEALContext(parameters, False, seal.sec_level_type.none)
        if not context.parameters_set():
            raise HEError(f"SEAL cannot batch modulo the prime of {backend.parameters.name}: {context.parameter_error_message()}")
        self._encoder = seal.BatchEncoder(context)
        self._slot_order = self._read_slot_order(backend)
        # The encoder's input and output, reused: a vector it reads (numpy writes into it in place) and a plaintext.
        self._slots = seal.VectorUInt([0] * backend.degree)
        self._slot_words: Words = np.asarray(self._slots)
        self._coefficients = seal.Plaintext()

    def _read_slot_order(self, backend: SealBackend) -> NDArray[np.intp]:
        """Where each slot's value sits in the NTT domain, from SEAL's own transform of the encoding of 0 to N-1."""
        coefficients = _trailing_words(self._encoder.encode(np.arange(self._degree, dtype=np.uint64)).to_bytes(), self._degree)
        ciphertext = backend.load(backend.seal.Ciphertext(), [coefficients.data, coefficients.data], ntt_form=False)
        backend.evaluator.transform_to_ntt_inplace(ciphertext)
        positions = backend.polynomials(ciphertext)[0]
        if not np.array_equal(np.sort(positions), np.arange(self._degree, dtype=np.uint64)):
            raise HEError("SEAL's batch encoder transforms with other tables than its ciphertexts: this build of SEAL is not supported")
        order = np.empty(self._degree, dtype=np.intp)
        order[positions.astype(np.intp)] = np.arange(self._degree)
        return order

    def __call__(self, plaintext: Any) -> Words:
        """The coefficients of an NTT-form plaintext of one polynomial."""
        # The slot order holds every index once: "wrap" skips the bounds check, half the gather's time.
        np.take(_trailing_words(plaintext.to_bytes(), self._degree), self._slot_order, out=self._slot_words, mode="wrap")
        self._encoder.encode(self._slots, self._coefficients)
        return _trailing_words(self._coefficients.to_bytes(), self._degree)


def _trailing_words(data: bytes, count: int) -> Words:
    """The last ``count`` 64-bit words of a SEAL serialization: a ciphertext's or plaintext's data, with no copy."""
    return np.frombuffer(data, dtype="<u8", count=count, offset=len(data) - 8 * count)


class SealCipher:
    """A SEAL backend with a secret key; see :class:`fldecl.he.backend.CkksCipher`."""

    def __init__(self, backend: SealBackend, secret_key: Any, secret_key_bytes: bytes) -> None:
        seal = backend.seal
        self._backend = backend
        self._secret_key_bytes = secret_key_bytes
        self._encryptor = seal.Encryptor(backend.context, secret_key)
        self._decryptor = seal.Decryptor(backend.context, secret_key)
        self._zero = seal.CKKSEncoder(backend.context).encode(0.0, backend.scale)
        self._zero_row = bytes(8 * backend.degree)
        # SEAL's objects, reused ciphertext after ciphertext (a cipher handles one update at a time): a fresh
        # encryption, a loaded one, a decryption, and the inverse transform's encoder with its input and output.
        self._fresh, self._loaded, self._plaintext = seal.Ciphertext(), seal.Ciphertext(), seal.Plaintext()
        self._inverse_transform = InverseTransform(backend)

    def encrypt(self, values: NDArray[np.floating[Any]], seed: bytes) -> Iterator[Packed]:
        from fldecl.he import codec  # lazy: it loads numba's compiler, the party's own work and never a worker's or the aggregator's

        backend = self._backend
        degree, modulus, width = backend.degree, backend.modulus, backend.parameters.wire_bits
        chunks = self._chunks(math.ceil(values.size / degree), width / 8, _ENCRYPTION_CHUNK_BYTES)
        # A chunk's random halves, masks and packed rows, each in one array reused chunk after chunk: new arrays per chunk,
        # freed among SEAL's serializations, fragment the heap and raise a small update's peak memory (at level 4, in
        # chunks of two ciphertexts: 2.88-2.91x the float32 update with new arrays, 2.73-2.81x reused).
        random_halves, masks = backend.random_halves(), _rows(chunks, degree)
        packed = _rows(chunks, degree * width // 64)

        def here(start: int, stop: int) -> Words:
            return self._masks(random_halves(seed, start, stop), masks[: stop - start])

        for (start, stop), chunk_masks in zip(chunks, self._spread(chunks, here, _worker_masks, (seed,)), strict=True):
            # e - a*s; m + e - a*s is c0
            values_in_chunk = values[start * degree : stop * degree]
            yield codec.encode(chunk_masks.view(np.int64), values_in_chunk, backend.scale, modulus, width, packed[: stop - start])

    def _chunks(self, count: int, output_bytes: float, chunk_bytes: int) -> list[Chunk]:
        step = self._backend.rows_per_chunk(count, output_bytes, chunk_bytes)
        return [(start, min(count, start + step)) for start in range(0, count, step)]

    def _spread(
        self, chunks: list[Chunk], here: Callable[[int, int], Words], there: Callable[..., Words], arguments: tuple[Any, ...]
    ) -> Iterator[Words]:
        """SEAL's work on every chunk, ``here(start, stop)``, in order, shared with the party's other cores if the work is large.

        A worker runs ``there(*arguments, start, stop)`` with its own copy of this cipher. Workers
        do only SEAL's work (they load neither numba nor its compiler, a hundred megabytes and
        more); the party encodes and decodes every chunk itself.
        """
        backend = self._backend
        executor = None
        if chunks and chunks[-1][1] * backend.degree >= PARALLEL_VALUES:
            key = (backend.parameters, hashlib.sha256(self._secret_key_bytes).digest())
            executor = workers.pool(key, _start_worker, (backend.parameters.to_json(), backend.public_bytes(), self._secret_key_bytes))

        def in_worker(chunk: Chunk) -> Future[Words]:
            assert executor is not None
            return executor.submit(there, *arguments, *chunk)

        return workers.spread(chunks, lambda chunk: here(*chunk), None if executor is None else in_worker, workers.cores() - 1)

    def _masks(self, random_halves: Words, masks: Words) -> Words:
        """``e - a*s`` of ciphertexts whose random halves are ``a``, in the coefficient domain, into ``masks``: c0 of encryptions of zero.

        One ciphertext at a time: SEAL's fresh encryption of zero (e - a'*s, a'), e from SEAL's
        sampler, minus (0, a), is (e - a'*s, a' - a), which decrypts to e - a*s. ``masks`` are
        contiguous rows, over which numba's loops vectorize.
        """
        backend = self._backend
        for mask, random_half in zip(masks, random_halves, strict=True):
            self._encryptor.encrypt_symmetric(self._zero, self._fresh)
            backend.evaluator.sub_inplace(self._fresh, backend.load(self._loaded, [self._zero_row, random_half.data]))
            mask[:] = self._secret_products(self._fresh)
        return masks

    def _secret_products(self, ciphertext: Any) -> Words:
        """c0 + c1*s of an NTT-form ciphertext (c0, c1), in the coefficient domain: SEAL's decryption, transformed back."""
        self._decryptor.decrypt(ciphertext, self._plaintext)
        return self._inverse_transform(self._plaintext)

    def decrypt(self, first_halves: Packed, seeds: Sequence[bytes]) -> Iterator[NDArray[np.float64]]:
        from fldecl.he import codec  # lazy: it loads numba's compiler, the party's own work and never a worker's or the aggregator's

        backend = self._backend
        chunks = self._chunks(len(first_halves), 8, _DECRYPTION_CHUNK_BYTES)  # a float64 per value
        seed_list, random_halves, totals = list(seeds), backend.random_halves(), _rows(chunks, backend.degree)

        def here(start: int, stop: int) -> Words:
            return self._random_products(random_halves, seed_list, start, stop, totals[: stop - start])

        products = self._spread(chunks, here, _worker_products, (seed_list,))
        for (start, stop), chunk_products in zip(chunks, products, strict=True):
            yield codec.decode(first_halves[start:stop], chunk_products, backend.modulus, backend.parameters.wire_bits, backend.scale)

    def _random_products(self, random_halves: RandomHalves, seeds: Sequence[bytes], start: int, stop: int, total: Words) -> Words:
        """``(sum a)*s`` of ciphertexts ``start`` to ``stop``, into ``total``, the ``a`` expanded from every contributor's seed."""
        backend = self._backend
        total[:] = random_halves(seeds[0], start, stop)  # the products are written in place
        for seed in seeds[1:]:
            _add_mod(total, random_halves(seed, start, stop), backend.modulus)
        for row in total:
            row[:] = self._secret_products(backend.load(self._loaded, [self._zero_row, row.data]))  # 0 + (sum a)*s
        return total


_worker_cipher: SealCipher | None = None  # in a worker process: the party's cipher, as the party handed it over


def _start_worker(parameters_json: bytes, public_bytes: bytes, secret_key: bytes) -> None:
    global _worker_cipher
    _worker_cipher = SealBackend(CkksParameters.from_json(parameters_json), public_bytes).cipher(secret_key)


def _worker_masks(seed: bytes, start: int, stop: int) -> Words:
    assert _worker_cipher is not None
    backend = _worker_cipher._backend
    return _worker_cipher._masks(backend.random_halves()(seed, start, stop), np.empty((stop - start, backend.degree), dtype=np.uint64))


def _worker_products(seeds: list[bytes], start: int, stop: int) -> Words:
    assert _worker_cipher is not None
    backend = _worker_cipher._backend
    total = np.empty((stop - start, backend.degree), dtype=np.uint64)
    return _worker_cipher._random_products(backend.random_halves(), seeds, start, stop, total)


def _rows(chunks: Sequence[Chunk], width: int) -> Words:
    """Room for the rows of the largest of ``chunks``, ``width`` words each."""
    return np.empty((max((stop - start for start, stop in chunks), default=0), width), dtype=np.uint64)


def _add_mod(left: Words, right: Words, modulus: int) -> Words:
    """``(left + right) mod modulus``, in ``left``, for residues below a prime of at most 63 bits.

    Of ``left + right`` and ``left + right - modulus``, the residue is the smaller as unsigned
    64-bit integers: the other either exceeds the modulus or wrapped around below zero.
    """
    left += right
    return np.minimum(left, left - np.uint64(modulus), out=left)
