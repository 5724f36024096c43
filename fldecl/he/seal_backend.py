"""CKKS on Microsoft SEAL through TenSEAL's raw bindings (``tenseal.sealapi``).

Parties encrypt symmetrically (each of them holds the secret key s), so a fresh ciphertext is
(c0, c1) = (m + e - a*s, a) with ``a`` uniformly random: SEAL can expand ``a`` from a seed when it
loads a ciphertext. fldecl chooses that seed itself. Ciphertext k of an update gets its own seed,
derived from the party's fresh per-update seed and k; the party loads the seeded ciphertext (0, a)
in SEAL's serialization, decrypts it to a*s, and subtracts that from m + e, where e is fresh noise
from SEAL's own sampler. Only c0 leaves the party, in the coefficient domain, rounded and packed to
the level's wire width (:mod:`fldecl.he.packing`).

Values sit in the plaintext's coefficients, not in its slots: a party encodes the slot vector whose
inverse embedding is its values, so the noise of a coefficient stays in that coefficient instead of
spreading over all N of them (about N/2 times less error variance), and one ciphertext still carries
N values.

The aggregator adds the wire values modulo 2**wire_bits and keeps every contributor's seed; SEAL is
not needed for that. A party rebuilds the sum (sum c0, sum a) by loading the decompressed sum with
the first contributor's seed, adding (0, a) for each other seed, and decrypts as usual.
"""

from __future__ import annotations

import hashlib
import math
import struct
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from fldecl.he import packing
from fldecl.he.errors import HEError
from fldecl.he.params import CkksParameters

# A memory-backed directory keeps serialized secret keys off disk where the OS provides one.
_MEMORY_FILESYSTEM = Path("/dev/shm")
_SECURITY_LEVELS = {128: "TC128", 192: "TC192", 256: "TC256"}

# SEAL 4's serialization, written uncompressed (compr_mode_type::none). Every object starts with a
# header: magic, header size, version major and minor, compression mode, reserved, total size.
_SEAL_MAGIC = 0xA15E
_HEADER = struct.Struct("<HBBBBHQ")
_COMPRESSION_NONE = 0
# A ciphertext's members: parms_id, is_ntt_form, size (polynomials), poly_modulus_degree,
# coeff_modulus_size, scale, correction_factor; then c0 as a DynArray (header, u64 count, words)
# and, where c1 would be, the seed as a UniformRandomGeneratorInfo (header, prng type, 64 bytes).
_METADATA = struct.Struct("<4QBQQQdQ")
_COUNT = struct.Struct("<Q")
_PRNG_BLAKE2XB = 1
_SEAL_SEED_BYTES = 64
_SEED_PERSONALIZATION = b"fldecl-he c1"


def _sealapi() -> Any:
    import tenseal.sealapi

    return tenseal.sealapi


class _ScratchFile:
    """SEAL's Python bindings serialize only to and from files, so bytes pass through one."""

    def __enter__(self) -> _ScratchFile:
        parent = _MEMORY_FILESYSTEM if _MEMORY_FILESYSTEM.is_dir() else None
        self._directory = tempfile.TemporaryDirectory(prefix="fldecl-he-", dir=parent)
        self._path = Path(self._directory.name) / "object"
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._directory.cleanup()

    def dump(self, saveable: Any) -> bytes:
        saveable.save(str(self._path))
        return self._path.read_bytes()

    def fill(self, loadable: Any, data: bytes, *context: Any) -> None:
        self._path.write_bytes(data)
        loadable.load(*context, str(self._path))


def _slot_roots(degree: int) -> np.ndarray:
    """Which odd power of the primitive 2N-th root each CKKS slot evaluates at: 3**i mod 2N, as SEAL orders them."""
    return np.array([pow(3, index, 2 * degree) for index in range(degree // 2)], dtype=np.int64)


def embed(values: np.ndarray, degree: int) -> np.ndarray:
    """Slot vectors whose inverse embedding are the rows of ``values`` (N reals each), for CKKS coefficient encoding."""
    twist = np.exp(1j * np.pi * np.arange(degree) / degree)
    evaluations = degree * np.fft.ifft(values * twist, axis=-1)  # the polynomial at every odd power of the root
    return evaluations[..., (_slot_roots(degree) - 1) // 2]


def unembed(slots: np.ndarray, degree: int) -> np.ndarray:
    """The real coefficients of the polynomials whose slots are the rows of ``slots``: the inverse of :func:`embed`."""
    roots = _slot_roots(degree)
    evaluations = np.zeros((*slots.shape[:-1], degree), dtype=complex)
    evaluations[..., (roots - 1) // 2] = slots
    evaluations[..., (2 * degree - roots - 1) // 2] = np.conj(slots)
    untwist = np.exp(-1j * np.pi * np.arange(degree) / degree)
    return (np.fft.fft(evaluations, axis=-1) / degree * untwist).real


def ciphertext_seed(seed: bytes, index: int) -> bytes:
    """The PRNG seed of ciphertext ``index``'s random half: a keyed hash, so every ciphertext has its own."""
    return hashlib.blake2b(index.to_bytes(8, "little"), digest_size=_SEAL_SEED_BYTES, key=seed, person=_SEED_PERSONALIZATION).digest()


class SealBackend:
    """One SEAL context; see :class:`fldecl.he.backend.CkksBackend`."""

    def __init__(self, parameters: CkksParameters, public_bytes: bytes | None = None) -> None:
        seal = _sealapi()
        self.seal = seal
        self.parameters = parameters
        if public_bytes is None:
            encryption_parameters = self._build_parameters(parameters)
        else:
            encryption_parameters = self._load_parameters(public_bytes)
        self._encryption_parameters = encryption_parameters
        security = getattr(seal.SEC_LEVEL_TYPE, _SECURITY_LEVELS.get(parameters.security_bits, ""), None)
        if security is None:
            raise HEError(f"unsupported security level {parameters.security_bits} bits")
        self.context = seal.SEALContext(encryption_parameters, True, security)
        if not self.context.parameters_set():
            reason = self.context.parameters_error_message()
            raise HEError(f"SEAL rejects the parameters of {parameters.name}: {reason}")
        data_moduli = self.context.first_context_data().parms().coeff_modulus()
        if len(data_moduli) != 1:
            raise HEError(f"{parameters.name} needs exactly one data prime: first halves are rounded modulo one prime")
        self.modulus = data_moduli[0].value()
        self.scale = 2.0**parameters.scale_bits
        self._version = _HEADER.unpack_from(self.public_bytes())[2:4]

    def _build_parameters(self, parameters: CkksParameters) -> Any:
        seal = self.seal
        encryption_parameters = seal.EncryptionParameters(seal.SCHEME_TYPE.CKKS)
        degree = parameters.poly_modulus_degree
        encryption_parameters.set_poly_modulus_degree(degree)
        moduli = seal.CoeffModulus.Create(degree, list(parameters.coeff_modulus_bits))
        encryption_parameters.set_coeff_modulus(moduli)
        return encryption_parameters

    def _load_parameters(self, public_bytes: bytes) -> Any:
        """Read received parameters and insist they are the ones the level describes."""
        seal = self.seal
        encryption_parameters = seal.EncryptionParameters(seal.SCHEME_TYPE.CKKS)
        with _ScratchFile() as scratch:
            try:
                scratch.fill(encryption_parameters, public_bytes)
            except (RuntimeError, ValueError) as error:
                raise HEError(f"public context is corrupt: SEAL cannot load it ({error})") from error
        bits = tuple(modulus.bit_count() for modulus in encryption_parameters.coeff_modulus())
        degree = encryption_parameters.poly_modulus_degree()
        expected = (self.parameters.poly_modulus_degree, self.parameters.coeff_modulus_bits)
        if encryption_parameters.scheme() != seal.SCHEME_TYPE.CKKS or (degree, bits) != expected:
            raise HEError(f"public context does not describe {self.parameters.name}")
        return encryption_parameters

    @property
    def parameters_id(self) -> bytes:
        return struct.pack("<4Q", *self.context.first_parms_id())

    def public_bytes(self) -> bytes:
        with _ScratchFile() as scratch:
            return scratch.dump(self._encryption_parameters)

    def generate_secret_key(self) -> bytes:
        with _ScratchFile() as scratch:
            return scratch.dump(self.seal.KeyGenerator(self.context).secret_key())

    def cipher(self, secret_key: bytes) -> SealCipher:
        key = self.seal.SecretKey()
        with _ScratchFile() as scratch:
            try:
                scratch.fill(key, secret_key, self.context)
            except (RuntimeError, ValueError) as error:
                raise HEError(f"secret keyring is corrupt: SEAL cannot load the key ({error})") from error
        if not self.seal.is_valid_for(key, self.context):
            raise HEError("secret keyring is corrupt: the key does not fit its parameters")
        return SealCipher(self, key)

    def add(self, operands: Sequence[Sequence[bytes]]) -> list[bytes]:
        """Wire values add modulo 2**wire_bits, so the sum is exactly as wide as each term."""
        width = self.parameters.wire_bits
        return [self.pack_half(packing.add([self.unpack_half(term) for term in terms], width)) for terms in zip(*operands, strict=True)]

    def pack_half(self, values: np.ndarray) -> bytes:
        return packing.pack(values, self.parameters.wire_bits)

    def unpack_half(self, data: bytes) -> np.ndarray:
        return packing.unpack(data, self.parameters.wire_bits, self.parameters.poly_modulus_degree)

    def seeded_ciphertext(self, first_half: np.ndarray, seed: bytes) -> bytes:
        """SEAL's uncompressed serialization of (first_half, c1) in the coefficient domain, c1 being what ``seed`` expands to."""
        words = np.ascontiguousarray(first_half, dtype="<u8").tobytes()
        metadata = _METADATA.pack(*self.context.first_parms_id(), 0, 2, self.parameters.poly_modulus_degree, 1, self.scale, 1)
        first = self._framed(_COUNT.pack(first_half.size) + words)
        prng_info = self._framed(bytes([_PRNG_BLAKE2XB]) + seed)
        return self._framed(metadata + first + prng_info)

    def _framed(self, members: bytes) -> bytes:
        header = _HEADER.pack(_SEAL_MAGIC, _HEADER.size, *self._version, _COMPRESSION_NONE, 0, _HEADER.size + len(members))
        return header + members

    def load_seeded(self, scratch: _ScratchFile, first_half: np.ndarray, seed: bytes) -> Any:
        """(first_half, a) in the coefficient domain, checked by SEAL like any received ciphertext."""
        seal = self.seal
        ciphertext = seal.Ciphertext()
        try:
            scratch.fill(ciphertext, self.seeded_ciphertext(first_half, seed), self.context)
        except (RuntimeError, ValueError) as error:
            raise HEError(f"ciphertext is corrupt: SEAL cannot load it ({error})") from error
        if not seal.is_valid_for(ciphertext, self.context) or ciphertext.size() != 2:
            raise HEError("ciphertext is corrupt: SEAL finds it invalid for these parameters")
        return ciphertext

    def first_half(self, ciphertext: Any) -> np.ndarray:
        """Read c0 out of a SEAL ciphertext (the bindings offer one coefficient per call)."""
        data = ciphertext.dyn_array()
        count = self.parameters.poly_modulus_degree
        return np.fromiter(map(data.at, range(count)), dtype=np.uint64, count=count)


class SealCipher:
    """A SEAL backend with a secret key; see :class:`fldecl.he.backend.CkksCipher`."""

    def __init__(self, backend: SealBackend, secret_key: Any) -> None:
        seal = backend.seal
        self._backend = backend
        self._encoder = seal.CKKSEncoder(backend.context)
        self._encryptor = seal.Encryptor(backend.context, secret_key)
        self._decryptor = seal.Decryptor(backend.context, secret_key)
        self._evaluator = seal.Evaluator(backend.context)
        self._zero_half = np.zeros(backend.parameters.poly_modulus_degree, dtype=np.uint64)

    def encrypt(self, values: np.ndarray, seed: bytes) -> list[bytes]:
        degree = self._backend.parameters.poly_modulus_degree
        count = math.ceil(values.size / degree)
        padded = np.zeros(count * degree)
        padded[: values.size] = values
        slots = embed(padded.reshape(count, degree), degree)
        with _ScratchFile() as scratch:
            return [self._encrypt_row(scratch, row, ciphertext_seed(seed, index)) for index, row in enumerate(slots)]

    def _encrypt_row(self, scratch: _ScratchFile, slots: np.ndarray, seed: bytes) -> bytes:
        """c0 = (m + e) - a*s for the ``a`` that ``seed`` expands to, rounded to the wire in the coefficient domain."""
        seal, backend, evaluator = self._backend.seal, self._backend, self._evaluator
        ciphertext = backend.load_seeded(scratch, self._zero_half, seed)  # (0, a)
        evaluator.transform_to_ntt_inplace(ciphertext)
        random_part = seal.Plaintext()
        self._decryptor.decrypt(ciphertext, random_part)  # a*s
        plaintext = seal.Plaintext()
        self._encoder.encode(slots.tolist(), backend.scale, plaintext)
        noisy = seal.Plaintext()
        self._decryptor.decrypt(self._fresh_encryption(plaintext), noisy)  # m + e
        evaluator.sub_plain_inplace(ciphertext, random_part)
        evaluator.add_plain_inplace(ciphertext, noisy)
        evaluator.transform_from_ntt_inplace(ciphertext)
        first_half = packing.compress(backend.first_half(ciphertext), backend.modulus, backend.parameters.wire_bits)
        return backend.pack_half(first_half)

    def _fresh_encryption(self, plaintext: Any) -> Any:
        """SEAL's own encryption of ``plaintext``: it brings fresh noise from SEAL's sampler."""
        ciphertext = self._backend.seal.Ciphertext()
        self._encryptor.encrypt_symmetric(plaintext, ciphertext)
        return ciphertext

    def decrypt(self, first_halves: Sequence[bytes], seeds: Sequence[bytes]) -> np.ndarray:
        seal, backend = self._backend.seal, self._backend
        rows = []
        with _ScratchFile() as scratch:
            for index, data in enumerate(first_halves):
                row_seeds = [ciphertext_seed(seed, index) for seed in seeds]
                first_half = packing.decompress(backend.unpack_half(data), backend.modulus, backend.parameters.wire_bits)
                total = backend.load_seeded(scratch, first_half, row_seeds[0])
                for row_seed in row_seeds[1:]:
                    self._evaluator.add_inplace(total, backend.load_seeded(scratch, self._zero_half, row_seed))
                self._evaluator.transform_to_ntt_inplace(total)
                plaintext = seal.Plaintext()
                self._decryptor.decrypt(total, plaintext)
                rows.append(np.asarray(self._encoder.decode_complex(plaintext)))
        return unembed(np.array(rows), backend.parameters.poly_modulus_degree).reshape(-1)
