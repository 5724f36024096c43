"""Parties' secret keyrings, the aggregator's public context, and the ciphertext blobs between them.

A party holds a :class:`SecretKeyring` (parameters + secret key) and sends one blob per update.
The aggregator holds only the public context (the encryption parameters and a random key id) and
adds blobs with :func:`aggregate`; it never sees key material, so it can neither decrypt an
update nor the sum. Parties divide the decrypted sum by :func:`contributors` themselves, which
keeps the aggregator's work to additions.
"""

from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass

import numpy as np

from fldecl.he import wire
from fldecl.he.backend import CkksBackend, load_backend
from fldecl.he.errors import PARAMETERS_MISMATCH, HEError
from fldecl.he.params import CkksParameters, cipher_spec

_KEY_ID_SIZE = 16
_COUNTS = struct.Struct("<QI")


@dataclass(frozen=True)
class _PublicContext:
    """The encryption parameters and the random id of the key; what the aggregator holds."""

    parameters: CkksParameters
    key_id: bytes
    backend: CkksBackend

    def fields(self) -> list[bytes]:
        return [self.parameters.to_json(), self.key_id, self.backend.public_bytes()]

    def to_bytes(self) -> bytes:
        return wire.pack(wire.Kind.PUBLIC_CONTEXT, self.fields())

    @classmethod
    def from_bytes(cls, data: bytes) -> _PublicContext:
        fields = wire.unpack(data, wire.Kind.PUBLIC_CONTEXT)
        if len(fields) != 3:
            raise HEError("public context is corrupt: wrong number of fields")
        return cls.from_fields(fields)

    @classmethod
    def from_fields(cls, fields: list[bytes]) -> _PublicContext:
        parameters_json, key_id, public_bytes = fields
        parameters = CkksParameters.from_json(parameters_json)
        return cls(parameters, key_id, load_backend(parameters, public_bytes))

    def same_as(self, other: _PublicContext) -> bool:
        return (self.parameters, self.key_id, self.backend.parameters_id) == (
            other.parameters,
            other.key_id,
            other.backend.parameters_id,
        )


@dataclass(frozen=True)
class _Blob:
    """An encrypted vector: whose parameters and key, how many values, how many updates summed."""

    parameters_id: bytes
    key_id: bytes
    value_count: int
    contributors: int
    ciphertexts: list[bytes]

    def to_bytes(self) -> bytes:
        counts = _COUNTS.pack(self.value_count, self.contributors)
        return wire.pack(wire.Kind.CIPHERTEXT, [self.parameters_id, self.key_id, counts, *self.ciphertexts])

    @classmethod
    def from_bytes(cls, data: bytes) -> _Blob:
        fields = wire.unpack(data, wire.Kind.CIPHERTEXT)
        if len(fields) < 3 or len(fields[2]) != _COUNTS.size:
            raise HEError("ciphertext is corrupt: missing header fields")
        parameters_id, key_id, counts, *ciphertexts = fields
        value_count, contributor_count = _COUNTS.unpack(counts)
        if contributor_count < 1:
            raise HEError("ciphertext is corrupt: it claims no contributors")
        return cls(parameters_id, key_id, value_count, contributor_count, ciphertexts)

    @classmethod
    def under(
        cls, context: _PublicContext, value_count: int, contributors: int, ciphertexts: list[bytes]
    ) -> _Blob:
        return cls(context.backend.parameters_id, context.key_id, value_count, contributors, ciphertexts)

    def check_fits(self, context: _PublicContext) -> None:
        """Reject a blob made for other parameters or another key, or with the wrong ciphertext count."""
        if self.parameters_id != context.backend.parameters_id:
            raise HEError(PARAMETERS_MISMATCH)
        if self.key_id != context.key_id:
            raise HEError(f"{PARAMETERS_MISMATCH}: it was encrypted under another training's key")
        expected = -(-self.value_count // context.parameters.values_per_ciphertext)
        if len(self.ciphertexts) != expected:
            raise HEError(
                f"ciphertext is corrupt: {len(self.ciphertexts)} ciphertexts "
                f"for {self.value_count} values, expected {expected}"
            )


class SecretKeyring:
    """The secret key of one training and its parameters; parties only, never the aggregator."""

    def __init__(self, context: _PublicContext, secret_key: bytes) -> None:
        self._context = context
        self._secret_key = secret_key
        self._cipher = context.backend.cipher(secret_key)

    @property
    def parameters(self) -> CkksParameters:
        return self._context.parameters

    @classmethod
    def generate(cls, cipher_spec_name: str) -> SecretKeyring:
        parameters = cipher_spec(cipher_spec_name)
        backend = load_backend(parameters)
        context = _PublicContext(parameters, secrets.token_bytes(_KEY_ID_SIZE), backend)
        return cls(context, backend.generate_secret_key())

    @classmethod
    def from_bytes(cls, data: bytes) -> SecretKeyring:
        fields = wire.unpack(data, wire.Kind.SECRET_KEYRING)
        if len(fields) != 4:
            raise HEError("secret keyring is corrupt: wrong number of fields")
        *public_fields, secret_key = fields
        return cls(_PublicContext.from_fields(public_fields), secret_key)

    def to_bytes(self) -> bytes:
        return wire.pack(wire.Kind.SECRET_KEYRING, [*self._context.fields(), self._secret_key])

    def public_context(self) -> bytes:
        """What the aggregator needs to add ciphertexts: the parameters and key id, no key material."""
        return self._context.to_bytes()

    def matches_context(self, public_context: bytes) -> bool:
        """Whether a received public context belongs to this keyring (same parameters and key)."""
        return self._context.same_as(_PublicContext.from_bytes(public_context))

    def encrypt(self, values: np.ndarray) -> bytes:
        """Encrypt a flat float vector of any length into one blob."""
        vector = np.asarray(values, dtype=np.float64)
        if vector.ndim != 1 or vector.size == 0:
            raise HEError(f"expected a non-empty flat vector, got shape {vector.shape}")
        if not np.all(np.isfinite(vector)):
            raise HEError("update contains NaN or infinite values")
        largest = float(np.max(np.abs(vector)))
        limit = self.parameters.max_abs_sum
        if largest >= limit:
            raise HEError(f"update value {largest:g} exceeds {self.parameters.name}'s range of +-{limit:g}")
        return _Blob.under(self._context, vector.size, 1, self._cipher.encrypt(vector)).to_bytes()

    def decrypt(self, blob: bytes) -> np.ndarray:
        """The float64 sum a blob carries; divide by :func:`contributors` for the mean."""
        parsed = _Blob.from_bytes(blob)
        parsed.check_fits(self._context)
        return self._cipher.decrypt(parsed.ciphertexts)[: parsed.value_count]


def aggregate(public_context: bytes, blobs: list[bytes], expected_values: int | None = None) -> bytes:
    """Add encrypted updates; the result records how many updates it sums.

    Headers are checked before any arithmetic (same parameters and key as the context, the same
    number of values: ``expected_values`` if given, else the first blob's), and every ciphertext
    must load and validate in SEAL for the context before it is added.
    """
    context = _PublicContext.from_bytes(public_context)
    if not blobs:
        raise HEError("nothing to aggregate: no updates were given")
    parsed = [_Blob.from_bytes(blob) for blob in blobs]
    expected = parsed[0].value_count if expected_values is None else expected_values
    for blob in parsed:
        blob.check_fits(context)
        if blob.value_count != expected:
            raise HEError(f"update has {blob.value_count} values, expected {expected}")
    sums = context.backend.add([blob.ciphertexts for blob in parsed])
    return _Blob.under(context, expected, sum(blob.contributors for blob in parsed), sums).to_bytes()


def contributors(blob: bytes) -> int:
    """How many parties' updates a blob sums (1 for a fresh update)."""
    return _Blob.from_bytes(blob).contributors
