"""CKKS on Microsoft SEAL through TenSEAL's raw bindings (``tenseal.sealapi``).

Parties encrypt symmetrically (each of them holds the secret key s), so a fresh ciphertext is
(c0, c1) = (m + e - a*s, a) with ``a`` uniformly random: SEAL can expand ``a`` from a seed when it
loads a ciphertext. fldecl chooses that seed itself. Ciphertext k of an update gets its own seed,
derived from the party's fresh per-update seed and k; the party loads the seeded ciphertext (0, a)
in SEAL's serialization, decrypts it to a*s, and subtracts that from m + e, where e is fresh noise
from SEAL's own sampler. Only c0 leaves the party, packed at the width of each prime.

The aggregator adds first halves modulo the primes and keeps every contributor's seed; SEAL is not
needed for that. A party rebuilds the sum (sum c0, sum a) by loading the summed first half with the
first contributor's seed, adding (0, a) for each other seed, and decrypts as usual.
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
from fldecl.he.errors import PARAMETERS_MISMATCH, HEError
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
        self.scale = 2.0**parameters.scale_bits
        data_moduli = self.context.first_context_data().parms().coeff_modulus()
        self._moduli = np.array([modulus.value() for modulus in data_moduli], dtype=np.uint64)
        self._widths = [modulus.bit_count() for modulus in data_moduli]
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

    @property
    def coefficient_count(self) -> int:
        """Coefficients in one half of a ciphertext: N for each data prime."""
        return self.parameters.poly_modulus_degree * len(self._widths)

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
        """First halves are uniform residues: their sum is taken modulo each prime, so it is no wider."""
        moduli = np.repeat(self._moduli, self.parameters.poly_modulus_degree)
        sums = []
        for terms in zip(*operands, strict=True):
            total = self.unpack_half(terms[0])
            for term in terms[1:]:
                total += self.unpack_half(term)  # both below 2**61: no overflow
                total -= np.where(total >= moduli, moduli, np.uint64(0))
            sums.append(self.pack_half(total))
        return sums

    def pack_half(self, coefficients: np.ndarray) -> bytes:
        """A first half (one run of N residues per prime) packed at each prime's width."""
        degree = self.parameters.poly_modulus_degree
        runs = coefficients.reshape(len(self._widths), degree)
        return b"".join(packing.pack(run, width) for run, width in zip(runs, self._widths, strict=True))

    def unpack_half(self, data: bytes) -> np.ndarray:
        """The residues of a packed first half, each checked to lie below its prime."""
        degree = self.parameters.poly_modulus_degree
        sizes = [packing.packed_size(degree, width) for width in self._widths]
        if len(data) != sum(sizes):
            raise HEError(f"ciphertext is corrupt: {len(data)} bytes where a ciphertext of these parameters takes {sum(sizes)}")
        runs, offset = [], 0
        for size, width, modulus in zip(sizes, self._widths, self._moduli, strict=True):
            run = packing.unpack(data[offset : offset + size], width, degree)
            if np.any(run >= modulus):
                raise HEError("ciphertext is corrupt: a coefficient exceeds its modulus")
            runs.append(run)
            offset += size
        return np.concatenate(runs)

    def seeded_ciphertext(self, first_half: np.ndarray, seed: bytes) -> bytes:
        """SEAL's uncompressed serialization of (first_half, c1), c1 being what ``seed`` expands to."""
        words = np.ascontiguousarray(first_half, dtype="<u8").tobytes()
        degree, count = self.parameters.poly_modulus_degree, len(self._widths)
        metadata = _METADATA.pack(*self.context.first_parms_id(), 1, 2, degree, count, self.scale, 1)
        first = self._framed(_COUNT.pack(first_half.size) + words)
        prng_info = self._framed(bytes([_PRNG_BLAKE2XB]) + seed)
        return self._framed(metadata + first + prng_info)

    def _framed(self, members: bytes) -> bytes:
        header = _HEADER.pack(_SEAL_MAGIC, _HEADER.size, *self._version, _COMPRESSION_NONE, 0, _HEADER.size + len(members))
        return header + members

    def load_seeded(self, scratch: _ScratchFile, first_half: np.ndarray, seed: bytes) -> Any:
        return self.load_ciphertext(scratch, self.seeded_ciphertext(first_half, seed))

    def load_ciphertext(self, scratch: _ScratchFile, data: bytes) -> Any:
        """Parse one ciphertext and check it is a fresh-scale ciphertext of these parameters."""
        seal = self.seal
        ciphertext = seal.Ciphertext()
        try:
            scratch.fill(ciphertext, data, self.context)
        except (RuntimeError, ValueError) as error:
            raise HEError(f"ciphertext is corrupt: SEAL cannot load it ({error})") from error
        if not seal.is_valid_for(ciphertext, self.context):
            raise HEError("ciphertext is corrupt: SEAL finds it invalid for these parameters")
        if ciphertext.parms_id() != self.context.first_parms_id():
            raise HEError(PARAMETERS_MISMATCH)
        if ciphertext.size() != 2:
            raise HEError(f"ciphertext is corrupt: it has {ciphertext.size()} polynomials, expected 2")
        if ciphertext.scale != self.scale:
            raise HEError(f"{PARAMETERS_MISMATCH} (scale 2^{math.log2(ciphertext.scale):g})")
        return ciphertext

    def first_half(self, ciphertext: Any) -> np.ndarray:
        """Read c0 out of a SEAL ciphertext (the bindings offer one coefficient per call)."""
        data = ciphertext.dyn_array()
        count = self.coefficient_count
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
        self._zero_half = np.zeros(backend.coefficient_count, dtype=np.uint64)

    def encrypt(self, values: np.ndarray, seed: bytes) -> list[bytes]:
        per_ciphertext = self._backend.parameters.values_per_ciphertext
        count = math.ceil(values.size / per_ciphertext)
        padded = np.zeros(count * per_ciphertext)
        padded[: values.size] = values
        slots = (padded[0::2] + 1j * padded[1::2]).reshape(count, per_ciphertext // 2)
        with _ScratchFile() as scratch:
            return [self._encrypt_row(scratch, row, ciphertext_seed(seed, index)) for index, row in enumerate(slots)]

    def _encrypt_row(self, scratch: _ScratchFile, row: np.ndarray, seed: bytes) -> bytes:
        """c0 = (m + e) - a*s for the ``a`` that ``seed`` expands to."""
        seal, backend = self._backend.seal, self._backend
        ciphertext = backend.load_seeded(scratch, self._zero_half, seed)  # (0, a)
        random_part = seal.Plaintext()
        self._decryptor.decrypt(ciphertext, random_part)  # a*s
        plaintext = seal.Plaintext()
        self._encoder.encode(row.tolist(), backend.scale, plaintext)
        noisy = seal.Plaintext()
        self._decryptor.decrypt(self._fresh_encryption(plaintext), noisy)  # m + e
        self._evaluator.sub_plain_inplace(ciphertext, random_part)
        self._evaluator.add_plain_inplace(ciphertext, noisy)
        return backend.pack_half(backend.first_half(ciphertext))

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
                total = backend.load_seeded(scratch, backend.unpack_half(data), row_seeds[0])
                for row_seed in row_seeds[1:]:
                    self._evaluator.add_inplace(total, backend.load_seeded(scratch, self._zero_half, row_seed))
                plaintext = seal.Plaintext()
                self._decryptor.decrypt(total, plaintext)
                rows.append(np.asarray(self._encoder.decode_complex(plaintext)))
        slots = np.concatenate(rows)
        values = np.empty(2 * slots.size)
        values[0::2], values[1::2] = slots.real, slots.imag
        return values
