"""CKKS on Microsoft SEAL through its Python bindings (``seal-python``, MIT).

Parties encrypt symmetrically (each of them holds the secret key s), so a fresh ciphertext is
(c0, c1) = (m + e - a*s, a) with ``a`` uniformly random. Only c0 leaves the party, in the
coefficient domain, rounded and packed to the level's wire width (:mod:`fldecl.he.packing`); ``a``
travels as the party's fresh per-update seed, from which every holder of the key expands it again.

The expansion (:func:`random_halves`) is AES-256 in counter mode (``cryptography``, on the CPU's
AES instructions), keyed by a hash of the seed: 64-bit words cut to the prime's bit length, kept
when below the prime. Rejection sampling makes each kept word uniform modulo the prime, and ``a``
is taken as a polynomial in NTT form, SEAL's convention for the random half of its own seeded
ciphertexts (uniform in one domain is uniform in the other). Ciphertext k of an update reads its
own stretch of the key stream, so no two ciphertexts, updates or contributors share a key and
counter block, and a batch of ciphertexts is one AES call and one numpy pass. Only the public half
is drawn this way (the seed travels in the clear, as ``a`` would in a full ciphertext); the noise
``e``, the secret key and every product with it stay SEAL's. This replaces SEAL's own expansion of
a seeded ciphertext (Blake2xb, one ciphertext per call, a third of an ``encrypt_symmetric``).

SEAL computes the mask ``e - a*s`` of each ciphertext: it takes its own fresh encryption of zero
(c0' = e - a'*s, a') from its own noise sampler, numpy takes the difference a' - a, and SEAL
computes c0' + (a' - a)*s = e - a*s for a batch of up to 16 ciphertexts at once: the differences
framed as the polynomials of one NTT-form ciphertext, multiplied by the secret key's plaintext
(``multiply_plain``), the c0' framed likewise and added, and the batch transformed back to the
coefficient domain in one call. numpy adds the message, which sits in the plaintext's
coefficients (``round(value * scale)``), so the noise of a coefficient stays in that coefficient
and one ciphertext carries N values. Bytes cross the bindings in SEAL's own uncompressed
serialization, with no file and no call per coefficient.

The aggregator adds the wire values modulo 2**wire_bits and keeps every contributor's seed; SEAL is
not needed for that. A party decrypts a sum by expanding every contributor's ``a``, adding them
modulo the prime in numpy, and letting SEAL compute (sum a)*s in the same batches: the sum of the
first halves plus that is the sum of the messages and noises.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from numpy.typing import NDArray

from fldecl.he import packing, workers
from fldecl.he.errors import HEError
from fldecl.he.packing import Packed, Words
from fldecl.he.params import CkksParameters

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
_NTT_FORM = 1
_MAX_POLYNOMIALS = 16  # SEAL's largest ciphertext: masks go back to the coefficient domain 16 at a time
_BATCH_VALUES = 32_768  # coefficients SEAL multiplies and transforms in one call, at most
_CHUNK_VALUES = 65_536  # values per chunk: what a party holds at once besides its input and output
_MEMORY_MULTIPLE = 3  # a party's peak extra memory, at most, in float32 updates
_FLOAT32_BYTES = 4
_SERIALIZATION_BYTES = 64  # per coefficient: SEAL's serialization of a two-polynomial ciphertext, with its stream's copies
_TEMPORARY_BYTES = 96  # per value of a chunk: its rows, their SEAL frames and numpy's temporaries, with the heap's slack
# From this many values on, a party's other cores share its work: a worker (an interpreter with
# numpy and SEAL) holds about 22 MB of its own and takes a second to start (a party keeps its
# workers for later rounds). A decryption's float64 result alone is 2x the float32 update, so the
# worker fits within 3x from here on (at 4 M values a decryption peaked at 3.6x).
PARALLEL_VALUES = 10_000_000


Chunk = tuple[int, int]  # ciphertexts start to stop
Result = TypeVar("Result")


def _seal() -> Any:
    import seal  # type: ignore[import-not-found]  # its stub is not a PEP 561 package

    return seal


def random_halves(seed: bytes, start: int, stop: int, degree: int, modulus: int) -> Words:
    """The random halves ``a`` of ciphertexts ``start`` to ``stop`` of the update whose seed is ``seed``.

    Rows of ``degree`` residues uniform below ``modulus``. Ciphertext k reads counter blocks k*B
    to (k+1)*B of the key stream, B blocks being its share (:func:`_draws_per_row`), and in the
    rare case that it rejects more words than its share allows, its spare stream.
    """
    key = hashlib.blake2b(digest_size=32, key=seed, person=_KEY_PERSONALIZATION).digest()
    draws = _draws_per_row(degree, modulus)
    words = _key_stream(key, start * draws * 8 // _AES_BLOCK, (stop - start) * draws, modulus).reshape(-1, draws)
    kept = words < np.uint64(modulus)
    if kept.all():
        return words[:, :degree]
    counts = kept.sum(axis=1)
    flat = words[kept]
    taken = (np.cumsum(counts) - counts)[:, np.newaxis] + np.arange(degree)
    rows: Words = flat[np.minimum(taken, flat.size - 1)]  # a short row reads past its share here, and is redone below
    for row in np.flatnonzero(counts < degree):
        rows[row] = _spare_draws(key, start + int(row), words[row][kept[row]], degree, modulus)
    return rows


def _draws_per_row(degree: int, modulus: int) -> int:
    """Words drawn per ciphertext: ``degree`` plus the expected rejections and 8 standard deviations, an even number (a block holds 2)."""
    rejected = 1.0 - modulus / 2.0 ** modulus.bit_length()
    spare = (degree * rejected + 8 * math.sqrt(degree * rejected)) / (1.0 - rejected)
    return 2 * ((degree + math.ceil(spare) + 3) // 2)


def _key_stream(key: bytes, first_block: int, count: int, modulus: int) -> Words:
    """``count`` words of AES-256-CTR under ``key`` from counter block ``first_block``, each cut to ``modulus``'s bit length."""
    encryptor = Cipher(algorithms.AES(key), modes.CTR(first_block.to_bytes(_AES_BLOCK, "big"))).encryptor()
    words = np.empty(count + 2, dtype="<u8")  # the cipher wants a block's room beyond the data to write into
    encryptor.update_into(bytes(8 * count), words.view(np.uint8).data)
    words = words[:count]
    words &= np.uint64((1 << modulus.bit_length()) - 1)
    return words


def _spare_draws(key: bytes, index: int, kept: Words, degree: int, modulus: int) -> Words:
    """Ciphertext ``index``'s ``a``: its ``kept`` words, then words from its spare stream until it has ``degree``."""
    parts, have, block = [kept], kept.size, _SPARE_COUNTERS + (index << 64)
    while have < degree:
        words = _key_stream(key, block, degree, modulus)
        parts.append(words[words < np.uint64(modulus)])
        have += parts[-1].size
        block += degree * 8 // _AES_BLOCK
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

    def _metadata(self, size: int) -> bytes:
        """The members of an NTT-form ciphertext of ``size`` polynomials that come before its data."""
        return _METADATA.pack(*self._parms_id, _NTT_FORM, size, self.degree, 1, self.scale, 1)

    def frame_prefix(self, size: int) -> bytes:
        """What comes before the words of a serialized NTT-form ciphertext of ``size`` polynomials."""
        words = 8 * self.degree * size
        members = self._metadata(size) + self._header(_COUNT.size + words) + _COUNT.pack(self.degree * size)
        return self._header(len(members) + words) + members

    def random_halves(self, seed: bytes, start: int, stop: int) -> Words:
        """``a`` of ciphertexts ``start`` to ``stop`` of the update whose seed is ``seed``; see :func:`random_halves`."""
        return random_halves(seed, start, stop, self.degree, self.modulus)

    def secret_plaintext(self, secret_key: bytes) -> Any:
        """The secret key s as SEAL holds it, a plaintext in NTT form: a secret key serializes as its plaintext."""
        plaintext = self.seal.Plaintext()
        try:
            plaintext.load_bytes(self.context, secret_key)
        except (RuntimeError, ValueError, TypeError) as error:
            raise HEError(f"secret keyring is corrupt: SEAL cannot load the key ({error})") from error
        return plaintext

    def products_with_secret(self, rows: Words, secret: Any, addends: Words | None = None) -> Words:
        """``rows * s + addends`` in the coefficient domain, in place of ``rows``, for rows of NTT-form polynomials.

        SEAL computes it a batch of rows at a time (:attr:`batch_rows`): the rows framed as one
        ciphertext, multiplied by the secret key's plaintext, the addends (framed likewise) added,
        and the whole transformed back from the NTT domain in one call.
        """
        evaluator = self.evaluator
        product, addend = self.seal.Ciphertext(), self.seal.Ciphertext()
        for start in range(0, len(rows), self.batch_rows):
            stop = min(len(rows), start + self.batch_rows)
            self._load(product, rows[start:stop])
            evaluator.multiply_plain_inplace(product, secret)
            if addends is not None:
                self._load(addend, addends[start:stop])
                evaluator.add_inplace(product, addend)
            evaluator.transform_from_ntt_inplace(product)
            rows[start:stop] = self.polynomials(product)[: stop - start]
        return rows

    def polynomials(self, ciphertext: Any) -> Words:
        """A ciphertext's polynomials, one row each, read from its serialization."""
        data: bytes = ciphertext.to_string(self.seal.compr_mode_type.none)
        count = ciphertext.size() * self.degree
        return np.frombuffer(data, dtype="<u8", count=count, offset=len(data) - 8 * count).reshape(-1, self.degree)

    def _load(self, ciphertext: Any, rows: Words) -> None:
        """Rows of NTT-form polynomials into ``ciphertext``, as its polynomials (a lone row twice: a ciphertext has at least two)."""
        parts = [np.ascontiguousarray(rows).data] * (2 if len(rows) == 1 else 1)
        ciphertext.load_bytes(self.context, b"".join([self.frame_prefix(len(rows) * len(parts)), *parts]))

    @property
    def batch_rows(self) -> int:
        """Polynomials SEAL multiplies and transforms in one call: up to 16, and at most 32 K coefficients."""
        return max(1, min(_MAX_POLYNOMIALS, _BATCH_VALUES // self.degree))

    def rows_per_chunk(self, ciphertexts: int, output_bytes: float) -> int:
        """Ciphertexts a party handles at once: 64 K values, fewer where that would take its peak memory beyond 3x the float32 update.

        Besides its output (``output_bytes`` per value), a party then holds SEAL's serialization
        of a two-polynomial ciphertext (about four copies of it, fixed) and a chunk's temporaries
        (about 96 bytes per value of the chunk, measured).
        """
        budget = ciphertexts * self.degree * (_MEMORY_MULTIPLE * _FLOAT32_BYTES - output_bytes) - _SERIALIZATION_BYTES * self.degree
        rows = int(budget // (_TEMPORARY_BYTES * self.degree))
        return max(1, min(_CHUNK_VALUES // self.degree, rows))


class SealCipher:
    """A SEAL backend with a secret key; see :class:`fldecl.he.backend.CkksCipher`."""

    def __init__(self, backend: SealBackend, secret_key: Any, secret_key_bytes: bytes) -> None:
        seal = backend.seal
        self._backend = backend
        self._secret_key_bytes = secret_key_bytes
        self._encryptor = seal.Encryptor(backend.context, secret_key)
        self._secret = backend.secret_plaintext(secret_key_bytes)
        self._zero = seal.CKKSEncoder(backend.context).encode(0.0, backend.scale)

    def encrypt(self, values: NDArray[np.floating[Any]], seed: bytes) -> Iterator[Packed]:
        degree = self._backend.degree
        chunks = self._chunks(math.ceil(values.size / degree), self._backend.parameters.wire_bits / 8)
        scratch = self._scratch(max((stop - start for start, stop in chunks), default=0))

        def arguments(start: int, stop: int) -> tuple[NDArray[np.floating[Any]], bytes]:
            return values[start * degree : stop * degree], seed

        def here(values: NDArray[np.floating[Any]], seed: bytes, start: int, stop: int) -> Packed:
            return self._encrypt_chunk(values, seed, start, stop, scratch)

        return self._spread(chunks, here, _worker_encrypt, arguments)

    def _encrypt_chunk(self, values: NDArray[np.floating[Any]], seed: bytes, start: int, stop: int, scratch: Words | None = None) -> Packed:
        """The packed first halves of ciphertexts ``start`` to ``stop``, which carry ``values``; see :meth:`_masks` for ``scratch``."""
        backend = self._backend
        modulus, width = backend.modulus, backend.parameters.wire_bits
        # e - a*s; m + e - a*s below, congruent to c0: compress reduces it
        first_halves = self._masks(seed, start, stop, scratch).view(np.int64)
        first_halves.reshape(-1)[: values.size] += self._encode(values)  # the padding of the last ciphertext carries zeros
        return packing.pack_rows(packing.compress(first_halves, modulus, width), width)

    def _chunks(self, count: int, output_bytes: float) -> list[Chunk]:
        step = self._backend.rows_per_chunk(count, output_bytes)
        return [(start, min(count, start + step)) for start in range(0, count, step)]

    def _spread(
        self,
        chunks: list[Chunk],
        here: Callable[..., Result],
        there: Callable[..., Result],
        arguments: Callable[[int, int], tuple[Any, ...]],
    ) -> Iterator[Result]:
        """``here(*arguments(start, stop), start, stop)`` of every chunk in order, shared with the party's other cores if the work is large.

        A worker runs ``there`` with the same arguments, with its own copy of this cipher.
        """
        backend = self._backend
        executor = None
        if chunks and chunks[-1][1] * backend.degree >= PARALLEL_VALUES:
            key = (backend.parameters, hashlib.sha256(self._secret_key_bytes).digest())
            executor = workers.pool(key, _start_worker, (backend.parameters.to_json(), backend.public_bytes(), self._secret_key_bytes))

        def in_worker(chunk: Chunk) -> Future[Result]:
            assert executor is not None
            return executor.submit(there, *arguments(*chunk), *chunk)

        return workers.spread(
            chunks, lambda chunk: here(*arguments(*chunk), *chunk), None if executor is None else in_worker, workers.cores() - 1
        )

    def _encode(self, values: NDArray[np.floating[Any]]) -> NDArray[np.int64]:
        """``round(value * scale)``: each value in its own coefficient, a signed integer well below the prime."""
        scaled = np.multiply(values, self._backend.scale, dtype=np.float64)
        encoded: NDArray[np.int64] = np.rint(scaled, out=np.empty(scaled.shape, dtype=np.int64), casting="unsafe")
        return encoded

    def _scratch(self, rows: int) -> Words:
        """Room for the masks of a chunk of up to ``rows`` ciphertexts and one batch's c0' (:meth:`_masks`)."""
        return np.empty((rows + min(self._backend.batch_rows, rows), self._backend.degree), dtype=np.uint64)

    def _masks(self, seed: bytes, start: int, stop: int, scratch: Words | None = None) -> Words:
        """``e - a*s`` of ciphertexts ``start`` to ``stop``, in the coefficient domain: c0 of an encryption of zero.

        A batch at a time: SEAL's fresh encryptions of zero as two rows each (c0' and a'), a' - a
        in place, then SEAL's product of the batch with the key, plus the c0'. The masks and the
        c0' are written into ``scratch`` (:meth:`_scratch`), reused chunk after chunk, or into new
        arrays: new arrays per chunk, freed among SEAL's serializations, fragment the heap, which
        takes a small update's peak memory beyond 3x the float32 update.
        """
        backend = self._backend
        batch, rows = backend.batch_rows, stop - start
        scratch = self._scratch(rows) if scratch is None else scratch
        masks = scratch[:rows]
        first_halves = scratch[len(scratch) - min(batch, rows) :]  # one batch's c0', reused; after any chunk's masks
        fresh = backend.seal.Ciphertext()
        for batch_start in range(start, stop, batch):
            batch_stop = min(stop, batch_start + batch)
            second_halves = masks[batch_start - start : batch_stop - start]
            batch_first_halves = first_halves[: batch_stop - batch_start]
            for rows_of_zero in zip(batch_first_halves, second_halves, strict=True):
                self._encrypt_zero(fresh, *rows_of_zero)
            _subtract_mod(second_halves, backend.random_halves(seed, batch_start, batch_stop), backend.modulus)  # a' - a
            backend.products_with_secret(second_halves, self._secret, batch_first_halves)  # e - a'*s + (a' - a)*s
        return masks

    def _encrypt_zero(self, fresh: Any, first_half: Words, second_half: Words) -> None:
        """SEAL's fresh encryption of zero (e - a'*s, a'), e from SEAL's sampler, into two rows.

        Its serialization is freed before the next one is made: two at once weigh on a small
        update's peak memory.
        """
        degree = self._backend.degree
        self._encryptor.encrypt_symmetric(self._zero, fresh)
        data = fresh.to_string(self._backend.seal.compr_mode_type.none)
        first_half[:] = np.frombuffer(data, dtype="<u8", count=degree, offset=len(data) - 16 * degree)
        second_half[:] = np.frombuffer(data, dtype="<u8", count=degree, offset=len(data) - 8 * degree)

    def decrypt(self, first_halves: Packed, seeds: Sequence[bytes]) -> Iterator[NDArray[np.float64]]:
        chunks = self._chunks(len(first_halves), 8)  # a float64 per value
        seed_list = list(seeds)
        return self._spread(chunks, self._decrypt_chunk, _worker_decrypt, lambda start, stop: (first_halves[start:stop], seed_list))

    def _decrypt_chunk(self, first_halves: Packed, seeds: list[bytes], start: int, stop: int) -> NDArray[np.float64]:
        """The values of ciphertexts ``start`` to ``stop``, whose summed first halves are ``first_halves``."""
        backend = self._backend
        modulus, width = backend.modulus, backend.parameters.wire_bits
        sums = packing.decompress(packing.unpack_rows(first_halves, width), modulus, width)
        centered = _centered(_add_mod(sums, self._random_products(seeds, start, stop), modulus), modulus)
        return (centered * (1.0 / backend.scale)).reshape(-1)

    def _random_products(self, seeds: Sequence[bytes], start: int, stop: int) -> Words:
        """``(sum a)*s`` of ciphertexts ``start`` to ``stop``, the ``a`` expanded from every contributor's seed."""
        backend = self._backend
        total = np.ascontiguousarray(backend.random_halves(seeds[0], start, stop))  # the products are written in place
        for seed in seeds[1:]:
            _add_mod(total, backend.random_halves(seed, start, stop), backend.modulus)
        return backend.products_with_secret(total, self._secret)


_worker_cipher: SealCipher | None = None  # in a worker process: the party's cipher, as the party handed it over


def _start_worker(parameters_json: bytes, public_bytes: bytes, secret_key: bytes) -> None:
    global _worker_cipher
    _worker_cipher = SealBackend(CkksParameters.from_json(parameters_json), public_bytes).cipher(secret_key)


def _worker_encrypt(values: NDArray[np.floating[Any]], seed: bytes, start: int, stop: int) -> Packed:
    assert _worker_cipher is not None
    return _worker_cipher._encrypt_chunk(values, seed, start, stop)


def _worker_decrypt(first_halves: Packed, seeds: list[bytes], start: int, stop: int) -> NDArray[np.float64]:
    assert _worker_cipher is not None
    return _worker_cipher._decrypt_chunk(first_halves, seeds, start, stop)


def _add_mod(left: Words, right: Words, modulus: int) -> Words:
    """``(left + right) mod modulus``, in ``left``, for residues below a prime of at most 63 bits.

    Of ``left + right`` and ``left + right - modulus``, the residue is the smaller as unsigned
    64-bit integers: the other either exceeds the modulus or wrapped around below zero.
    """
    left += right
    return np.minimum(left, left - np.uint64(modulus), out=left)


def _subtract_mod(left: Words, right: Words, modulus: int) -> Words:
    """``(left - right) mod modulus``, in ``left``, for residues below a prime of at most 63 bits; see :func:`_add_mod`."""
    left -= right
    return np.minimum(left, left + np.uint64(modulus), out=left)


def _centered(residues: Words, modulus: int) -> NDArray[np.int64]:
    """Residues below ``modulus`` as signed integers within +-modulus/2, in place: ``(residue + h) mod modulus - h``, h = modulus // 2."""
    half = modulus // 2
    residues += np.uint64(half)
    np.minimum(residues, residues - np.uint64(modulus), out=residues)
    centered = residues.view(np.int64)
    centered -= np.int64(half)
    return centered
