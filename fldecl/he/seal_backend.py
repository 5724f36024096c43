"""CKKS on Microsoft SEAL through its Python bindings (``seal-python``, MIT).

Parties encrypt symmetrically (each of them holds the secret key s), so a fresh ciphertext is
(c0, c1) = (m + e - a*s, a) with ``a`` uniformly random: SEAL expands ``a`` from a seed when it
loads a seeded ciphertext, in the NTT form its own seeded CKKS ciphertexts use. fldecl chooses
that seed itself: ciphertext k of an update gets its own, derived from the party's fresh
per-update seed and k. Only c0 leaves the party, in the coefficient domain, rounded and packed to
the level's wire width (:mod:`fldecl.he.packing`).

SEAL computes the mask ``e - a*s`` of each ciphertext: it loads the seeded (0, a), takes its own
fresh encryption of zero (e - a'*s, a') from its own noise sampler, and decrypts their difference,
(e - a'*s + a'*s - a*s); a batch of such masks goes back to the coefficient domain in one
ciphertext of up to 16 polynomials. numpy adds the message, which sits in the plaintext's
coefficients (``round(value * scale)``), so the noise of a coefficient stays in that coefficient
and one ciphertext carries N values. Bytes cross the bindings in SEAL's own uncompressed
serialization, with no file and no call per coefficient.

The aggregator adds the wire values modulo 2**wire_bits and keeps every contributor's seed; SEAL is
not needed for that. A party decrypts a sum by loading (0, a) for every contributor's seed, adding
them, and letting SEAL decrypt the sum of the random halves to (sum a)*s: the sum of the first
halves plus that is the sum of the messages and noises.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

import numpy as np
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
# count, words). A seeded one holds c0 alone, and then the seed as a UniformRandomGeneratorInfo
# (header, prng type, 64 bytes), where c1 would be.
_METADATA = struct.Struct("<4QBQQQdQ")
_COUNT = struct.Struct("<Q")
_PRNG_BLAKE2XB = 1
_SEAL_SEED_BYTES = 64
_SEED_PERSONALIZATION = b"fldecl-he c1"
_NTT_FORM = 1
_MAX_POLYNOMIALS = 16  # SEAL's largest ciphertext: masks go back to the coefficient domain 16 at a time
_CHUNK_VALUES = 16_384  # values per chunk: what a party holds at once besides its input and output
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


def ciphertext_seed(seed: bytes, index: int) -> bytes:
    """The PRNG seed of ciphertext ``index``'s random half: a keyed hash, so every ciphertext has its own."""
    return hashlib.blake2b(index.to_bytes(8, "little"), digest_size=_SEAL_SEED_BYTES, key=seed, person=_SEED_PERSONALIZATION).digest()


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
        zeros = self._framed(_COUNT.pack(self.degree) + bytes(8 * self.degree))
        seed_info_header = self._header(1 + _SEAL_SEED_BYTES)
        members = self._metadata(2) + zeros + seed_info_header + bytes([_PRNG_BLAKE2XB])
        self._seeded_prefix = self._header(len(members) + _SEAL_SEED_BYTES) + members

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

    def _framed(self, members: bytes) -> bytes:
        return self._header(len(members)) + members

    def _metadata(self, size: int) -> bytes:
        """The members of an NTT-form ciphertext of ``size`` polynomials that come before its data."""
        return _METADATA.pack(*self._parms_id, _NTT_FORM, size, self.degree, 1, self.scale, 1)

    def random_half(self, seed: bytes, into: Any = None) -> Any:
        """The ciphertext (0, a), a being what ``seed`` expands to in NTT form, checked by SEAL like any received ciphertext.

        ``into``, a ciphertext to overwrite, spares SEAL an allocation per ciphertext.
        """
        ciphertext = self.seal.Ciphertext() if into is None else into
        try:
            ciphertext.load_bytes(self.context, self._seeded_prefix + seed)
        except (RuntimeError, ValueError) as error:
            raise HEError(f"ciphertext is corrupt: SEAL cannot load it ({error})") from error
        return ciphertext

    def polynomials(self, ciphertext: Any) -> Words:
        """A ciphertext's polynomials, one row each, read from its serialization."""
        data: bytes = ciphertext.to_string(self.seal.compr_mode_type.none)
        count = ciphertext.size() * self.degree
        return np.frombuffer(data, dtype="<u8", count=count, offset=len(data) - 8 * count).reshape(-1, self.degree)

    def to_coefficients(self, plaintexts: Sequence[bytes]) -> Words:
        """Serialized NTT-form plaintexts, as rows of coefficients: SEAL transforms them up to 16 at a time.

        Each batch is framed as one ciphertext whose polynomials are the plaintexts' last words,
        joined straight from their serializations.
        """
        degree = self.degree
        result = np.empty((len(plaintexts), degree), dtype=np.uint64)
        for start in range(0, len(plaintexts), _MAX_POLYNOMIALS):
            batch = [memoryview(data)[-8 * degree :] for data in plaintexts[start : start + _MAX_POLYNOMIALS]]
            rows = len(batch)
            if rows == 1:  # a ciphertext has at least two polynomials
                batch.append(batch[0])
            array_header = self._header(_COUNT.size + 8 * degree * len(batch)) + _COUNT.pack(degree * len(batch))
            members = self._metadata(len(batch)) + array_header
            ciphertext = self.seal.Ciphertext()
            ciphertext.load_bytes(self.context, b"".join([self._header(len(members) + 8 * degree * len(batch)), members, *batch]))
            self.evaluator.transform_from_ntt_inplace(ciphertext)
            result[start : start + rows] = self.polynomials(ciphertext)[:rows]
        return result

    def rows_per_chunk(self, ciphertexts: int) -> int:
        """Ciphertexts a party handles at once: 16 K values, or a 32nd of a smaller update, so that its temporaries stay small."""
        return max(1, min(_CHUNK_VALUES, ciphertexts * self.degree // 32) // self.degree)


class SealCipher:
    """A SEAL backend with a secret key; see :class:`fldecl.he.backend.CkksCipher`."""

    def __init__(self, backend: SealBackend, secret_key: Any, secret_key_bytes: bytes) -> None:
        seal = backend.seal
        self._backend = backend
        self._secret_key_bytes = secret_key_bytes
        self._encryptor = seal.Encryptor(backend.context, secret_key)
        self._decryptor = seal.Decryptor(backend.context, secret_key)
        self._zero = seal.CKKSEncoder(backend.context).encode(0.0, backend.scale)

    def _scratch(self) -> tuple[Any, Any, Any]:
        """Two ciphertexts and a plaintext that a chunk's loop overwrites for every ciphertext: SEAL reuses their memory."""
        seal = self._backend.seal
        return seal.Ciphertext(), seal.Ciphertext(), seal.Plaintext()

    def encrypt(self, values: NDArray[np.floating[Any]], seed: bytes) -> Iterator[Packed]:
        degree = self._backend.degree
        chunks = self._chunks(math.ceil(values.size / degree))

        def arguments(start: int, stop: int) -> tuple[NDArray[np.floating[Any]], bytes]:
            return values[start * degree : stop * degree], seed

        return self._spread(chunks, self._encrypt_chunk, _worker_encrypt, arguments)

    def _encrypt_chunk(self, values: NDArray[np.floating[Any]], seed: bytes, start: int, stop: int) -> Packed:
        """The packed first halves of ciphertexts ``start`` to ``stop``, which carry ``values``."""
        backend = self._backend
        degree, modulus, width = backend.degree, backend.modulus, backend.parameters.wire_bits
        messages = np.zeros((stop - start) * degree, dtype=np.float64)
        messages[: values.size] = values
        first_halves = self._masks(seed, start, stop).view(np.int64)  # m + e - a*s, congruent to c0: compress reduces it
        first_halves += self._encode(messages).reshape(-1, degree)
        return packing.pack_rows(packing.compress(first_halves, modulus, width), width)

    def _chunks(self, count: int) -> list[Chunk]:
        step = self._backend.rows_per_chunk(count)
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

    def _encode(self, values: NDArray[np.float64]) -> NDArray[np.int64]:
        """``round(value * scale)``: each value in its own coefficient, a signed integer well below the prime."""
        values *= self._backend.scale
        return np.rint(values, out=values).astype(np.int64)

    def _masks(self, seed: bytes, start: int, stop: int) -> Words:
        """``e - a*s`` of ciphertexts ``start`` to ``stop``, in the coefficient domain: c0 of an encryption of zero."""
        backend = self._backend
        fresh, half, difference = self._scratch()
        differences = []
        for index in range(start, stop):
            self._encryptor.encrypt_symmetric(self._zero, fresh)  # (e - a'*s, a'), e from SEAL's sampler
            backend.evaluator.sub_inplace(fresh, backend.random_half(ciphertext_seed(seed, index), half))
            self._decryptor.decrypt(fresh, difference)  # e - a'*s + (a' - a)*s
            differences.append(difference.to_bytes(backend.seal.compr_mode_type.none))
        return backend.to_coefficients(differences)

    def decrypt(self, first_halves: Packed, seeds: Sequence[bytes]) -> Iterator[NDArray[np.float64]]:
        chunks = self._chunks(len(first_halves))
        seed_list = list(seeds)
        return self._spread(chunks, self._decrypt_chunk, _worker_decrypt, lambda start, stop: (first_halves[start:stop], seed_list))

    def _decrypt_chunk(self, first_halves: Packed, seeds: list[bytes], start: int, stop: int) -> NDArray[np.float64]:
        """The values of ciphertexts ``start`` to ``stop``, whose summed first halves are ``first_halves``."""
        backend = self._backend
        modulus, width = backend.modulus, backend.parameters.wire_bits
        sums = packing.decompress(packing.unpack_rows(first_halves, width), modulus, width)
        residues = _add_mod(sums, self._random_products(seeds, start, stop), modulus)
        centered = residues.view(np.int64)
        np.subtract(centered, np.int64(modulus), out=centered, where=residues > np.uint64(modulus // 2))
        return (centered * (1.0 / backend.scale)).reshape(-1)

    def _random_products(self, seeds: Sequence[bytes], start: int, stop: int) -> Words:
        """``(sum a)*s`` of ciphertexts ``start`` to ``stop``, the ``a`` expanded from every contributor's seed."""
        backend = self._backend
        total, half, plaintext = self._scratch()
        products = []
        for index in range(start, stop):
            backend.random_half(ciphertext_seed(seeds[0], index), total)
            for seed in seeds[1:]:
                backend.evaluator.add_inplace(total, backend.random_half(ciphertext_seed(seed, index), half))
            self._decryptor.decrypt(total, plaintext)
            products.append(plaintext.to_bytes(backend.seal.compr_mode_type.none))
        return backend.to_coefficients(products)


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
    """``(left + right) mod modulus``, in ``left``, for residues below a prime of at most 60 bits."""
    left += right
    np.subtract(left, np.uint64(modulus), out=left, where=left >= np.uint64(modulus))
    return left
