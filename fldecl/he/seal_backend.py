"""CKKS on Microsoft SEAL through TenSEAL's raw bindings (``tenseal.sealapi``).

Parties encrypt symmetrically: each of them holds the secret key, and SEAL then serializes the
uniformly random half of a fresh ciphertext as a seed, halving the upload. Two reals share each
complex slot (real and imaginary part), halving it again.
"""

from __future__ import annotations

import math
import struct
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from fldecl.he.errors import PARAMETERS_MISMATCH, HEError
from fldecl.he.params import CkksParameters

# A memory-backed directory keeps serialized secret keys off disk where the OS provides one.
_MEMORY_FILESYSTEM = Path("/dev/shm")
_SECURITY_LEVELS = {128: "TC128", 192: "TC192", 256: "TC256"}



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
        evaluator = self.seal.Evaluator(self.context)
        sums = []
        with _ScratchFile() as scratch:
            for terms in zip(*operands, strict=True):
                total = self.load_ciphertext(scratch, terms[0])
                for term in terms[1:]:
                    evaluator.add_inplace(total, self.load_ciphertext(scratch, term))
                sums.append(scratch.dump(total))
        return sums

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


class SealCipher:
    """A SEAL backend with a secret key; see :class:`fldecl.he.backend.CkksCipher`."""

    def __init__(self, backend: SealBackend, secret_key: Any) -> None:
        seal = backend.seal
        self._backend = backend
        self._encoder = seal.CKKSEncoder(backend.context)
        self._encryptor = seal.Encryptor(backend.context, secret_key)
        self._decryptor = seal.Decryptor(backend.context, secret_key)

    def encrypt(self, values: np.ndarray) -> list[bytes]:
        seal = self._backend.seal
        per_ciphertext = self._backend.parameters.values_per_ciphertext
        count = math.ceil(values.size / per_ciphertext)
        padded = np.zeros(count * per_ciphertext)
        padded[: values.size] = values
        slots = (padded[0::2] + 1j * padded[1::2]).reshape(count, per_ciphertext // 2)
        ciphertexts = []
        with _ScratchFile() as scratch:
            for row in slots:
                plaintext = seal.Plaintext()
                self._encoder.encode(row.tolist(), self._backend.scale, plaintext)
                ciphertexts.append(scratch.dump(self._encryptor.encrypt_symmetric(plaintext)))
        return ciphertexts

    def decrypt(self, ciphertexts: Sequence[bytes]) -> np.ndarray:
        seal = self._backend.seal
        rows = []
        with _ScratchFile() as scratch:
            for data in ciphertexts:
                plaintext = seal.Plaintext()
                self._decryptor.decrypt(self._backend.load_ciphertext(scratch, data), plaintext)
                rows.append(np.asarray(self._encoder.decode_complex(plaintext)))
        slots = np.concatenate(rows)
        values = np.empty(2 * slots.size)
        values[0::2], values[1::2] = slots.real, slots.imag
        return values
