"""Parties' secret keyrings, the aggregator's public context, and the ciphertext blobs between them.

A party holds a :class:`SecretKeyring` (parameters + secret key) and sends one blob per update:
the first halves of its ciphertexts and one seed entry (:mod:`fldecl.he.seeds`) from which the
random halves expand. The aggregator holds only the public context (the encryption parameters and
a random key id) and adds blobs with :func:`aggregate`: it sums first halves and lists every
contributor's seed entry, so the sum comes back as small as an update went up. It never sees key
material, so it can neither decrypt an update nor the sum. Parties divide the decrypted sum by
:func:`contributors` themselves, which keeps the aggregator's work to additions.
"""

from __future__ import annotations

import secrets
import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fldecl.he import seeds, wire
from fldecl.he.backend import CkksBackend, load_backend
from fldecl.he.errors import PARAMETERS_MISMATCH, HEError
from fldecl.he.packing import Packed
from fldecl.he.params import CkksParameters, cipher_spec
from fldecl.he.seeds import SeedEntry

_KEY_ID_SIZE = 16
_COUNTS = struct.Struct("<QI")
_HEADER_FIELDS = 4  # parameters id, key id, counts, seed list; then one first half per ciphertext
_SUM_CHUNK_BYTES = 1 << 22  # first halves a thread adds at a time, per term (in cache-sized steps)
_THREADS = 2
_CHECK_CHUNK = 1 << 20  # values checked at once, so that checks allocate no copy of a whole update


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
    """An encrypted vector: whose parameters and key, how many values, whose seeds, which first halves.

    The first halves stay where they are in the received bytes: :meth:`first_halves` views them
    as rows of one array, so neither a party nor the aggregator copies a blob to read it.
    """

    parameters_id: bytes
    key_id: bytes
    value_count: int
    seed_entries: list[SeedEntry]
    halves_region: memoryview
    halves_count: int

    @property
    def binding(self) -> bytes:
        """What every seed entry of this blob is tagged with."""
        return _binding(self.parameters_id, self.key_id, self.value_count)

    @classmethod
    def from_bytes(cls, data: bytes) -> _Blob:
        (parameters_id, key_id, counts, seed_list), region, halves_count = wire.read(data, wire.Kind.CIPHERTEXT, _HEADER_FIELDS)
        if len(counts) != _COUNTS.size:
            raise HEError("ciphertext is corrupt: missing header fields")
        value_count, contributor_count = _COUNTS.unpack(counts)
        if contributor_count < 1:
            raise HEError("ciphertext is corrupt: it claims no contributors")
        entries = seeds.unpack_list(seed_list)
        if len(entries) != contributor_count:
            raise HEError(f"ciphertext is corrupt: its seed list has {len(entries)} seeds for {contributor_count} contributors")
        return cls(parameters_id, key_id, value_count, entries, region, halves_count)

    def check_fits(self, context: _PublicContext) -> None:
        """Reject a blob made for other parameters or another key, or with the wrong ciphertext count."""
        if self.parameters_id != context.backend.parameters_id:
            raise HEError(PARAMETERS_MISMATCH)
        if self.key_id != context.key_id:
            raise HEError(f"{PARAMETERS_MISMATCH}: it was encrypted under another training's key")
        expected = _ciphertext_count(context, self.value_count)
        if self.halves_count != expected:
            raise HEError(f"ciphertext is corrupt: {self.halves_count} ciphertexts for {self.value_count} values, expected {expected}")

    def first_halves(self, context: _PublicContext) -> Packed:
        """The first halves as rows of a uint8 view; raise HEError for one of the wrong size."""
        size = context.backend.first_half_size
        rows = wire.table(self.halves_region, self.halves_count, size)
        if rows is not None:
            return rows
        corrupt = "ciphertext is corrupt"
        end, fields = wire.split_fields(self.halves_region, 0, self.halves_count, corrupt)
        for field in fields:
            if len(field) != size:
                raise HEError(f"{corrupt}: {len(field)} bytes where a ciphertext of these parameters takes {size}")
        raise HEError(f"{corrupt}: {len(self.halves_region) - end} trailing bytes")


def _ciphertext_count(context: _PublicContext, value_count: int) -> int:
    return -(-value_count // context.parameters.values_per_ciphertext)


def _writer(context: _PublicContext, value_count: int, entries: list[SeedEntry]) -> wire.Writer:
    """A blob's frame with its header fields written; its first halves follow, one field each."""
    count = _ciphertext_count(context, value_count)
    header = [context.backend.parameters_id, context.key_id, _COUNTS.pack(value_count, len(entries)), seeds.pack_list(entries)]
    writer = wire.Writer(wire.Kind.CIPHERTEXT, _HEADER_FIELDS + count, sum(map(len, header)) + count * context.backend.first_half_size)
    for field in header:
        writer.field(field)
    return writer


def _binding(parameters_id: bytes, key_id: bytes, value_count: int) -> bytes:
    """What a seed tag binds its seed to besides the contributor: the parameters, the training's key, the size."""
    return parameters_id + key_id + value_count.to_bytes(8, "little")


class SecretKeyring:
    """The secret key of one training and its parameters; parties only, never the aggregator."""

    def __init__(self, context: _PublicContext, secret_key: bytes) -> None:
        self._context = context
        self._secret_key = secret_key
        self._cipher = context.backend.cipher(secret_key)
        self._tag_key = seeds.tag_key(secret_key)

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

    def encrypt(self, values: ArrayLike, contributor: str) -> bytes:
        """Encrypt a flat float vector of any length into one blob, in the name of ``contributor``.

        Every call draws a fresh seed from the OS: no two updates, and no two ciphertexts of an
        update, share a random half (two that did would let the aggregator subtract them). The
        blob is written as the ciphertexts come: besides it, a party holds a few of them at a time.
        """
        vector = np.asarray(values)
        if not np.issubdtype(vector.dtype, np.floating):
            vector = vector.astype(np.float64)
        if vector.ndim != 1 or vector.size == 0:
            raise HEError(f"expected a non-empty flat vector, got shape {vector.shape}")
        largest = _largest_magnitude(vector)
        if not np.isfinite(largest):
            raise HEError("update contains NaN or infinite values")
        limit = self.parameters.max_abs_sum
        if largest >= limit:
            raise HEError(f"update value {largest:g} exceeds {self.parameters.name}'s range of +-{limit:g}")
        seed = secrets.token_bytes(seeds.SEED_SIZE)
        binding = _binding(self._context.backend.parameters_id, self._context.key_id, vector.size)
        writer = _writer(self._context, vector.size, [seeds.make_entry(self._tag_key, binding, contributor, seed)])
        for first_halves in self._cipher.encrypt(vector, seed):
            writer.table(first_halves)
        return writer.finish()

    def decrypt(self, blob: bytes) -> NDArray[np.float64]:
        """The float64 sum a blob carries; divide by :func:`contributors` for the mean.

        Every seed entry must carry a tag made with this training's key, and the result must lie
        within the level's range: a seed list that does not match the summed first halves (a
        seed dropped or added even with the count adjusted) decrypts to noise spread over twice
        that range, so about half of the values fall outside it (all of them inside: odds of 2**-N).
        """
        parsed = _Blob.from_bytes(blob)
        parsed.check_fits(self._context)
        first_halves = parsed.first_halves(self._context)
        for entry in parsed.seed_entries:
            if not seeds.is_authentic(entry, self._tag_key, parsed.binding):
                raise HEError(f"the seed list was altered: the seed of {entry.contributor!r} was not made with this training's key")
        values = np.empty(parsed.value_count, dtype=np.float64)
        offset, largest = 0, 0.0
        for chunk in self._cipher.decrypt(first_halves, [entry.seed for entry in parsed.seed_entries]):
            kept = chunk[: parsed.value_count - offset]
            values[offset : offset + kept.size] = kept
            largest = max(largest, float(np.max(np.abs(chunk))))  # padding included: it must decrypt to zero
            offset += kept.size
        limit = self.parameters.max_abs_sum
        if not largest <= limit:
            raise HEError(
                f"the sum decrypts to values beyond +-{limit:g} (up to {largest:.3g}): its seed list does not match "
                "its ciphertexts (a seed missing or added), or the sum left the level's range"
            )
        return values


def _largest_magnitude(vector: NDArray[np.floating[Any]]) -> float:
    """The largest absolute value, NaN if any value is NaN or infinite, a chunk at a time."""
    largest = 0.0
    for start in range(0, vector.size, _CHECK_CHUNK):
        chunk = vector[start : start + _CHECK_CHUNK]
        extremes = (float(np.max(chunk)), -float(np.min(chunk)))  # NaN if the chunk holds one
        if not all(map(np.isfinite, extremes)):
            return float("nan")
        largest = max(largest, *extremes)
    return largest


def aggregate(public_context: bytes, blobs: list[bytes], expected_values: int | None = None) -> bytes:
    """Add encrypted updates; the result lists every contributor's seed entry.

    Headers are checked before any arithmetic (same parameters and key as the context, the same
    number of values: ``expected_values`` if given, else the first blob's; no seed or contributor
    twice), and every first half must have the exact packed size. Seed entries pass through
    unchanged: only parties can check their tags. The sum is computed and written a few
    ciphertexts at a time, straight from the received bytes into the frame it sends back: besides
    the blobs, the aggregator holds the sum and little else. Two threads share the work (the
    digest and numpy let go of the interpreter while they compute).
    """
    context = _PublicContext.from_bytes(public_context)
    if not blobs:
        raise HEError("nothing to aggregate: no updates were given")
    with ThreadPoolExecutor(max_workers=_THREADS) as threads:
        parsed = list(threads.map(_Blob.from_bytes, blobs))
        expected = parsed[0].value_count if expected_values is None else expected_values
        for blob in parsed:
            blob.check_fits(context)
            if blob.value_count != expected:
                raise HEError(f"update has {blob.value_count} values, expected {expected}")
        entries = [entry for blob in parsed for entry in blob.seed_entries]
        seeds.check_distinct(entries)
        operands = [blob.first_halves(context) for blob in parsed]
        writer = _writer(context, expected, entries)
        _add(context, operands, writer.rows(len(operands[0]), context.backend.first_half_size), threads)
    return writer.finish()


def _add(context: _PublicContext, operands: list[Packed], sums: Packed, threads: ThreadPoolExecutor) -> None:
    """Add the rows of ``operands`` into ``sums``, a few ciphertexts at a time, shared by the threads."""
    step = max(1, _SUM_CHUNK_BYTES // context.backend.first_half_size)

    def add(start: int) -> None:
        context.backend.add([rows[start : start + step] for rows in operands], sums[start : start + step])

    list(threads.map(add, range(0, len(sums), step)))


def contributors(blob: bytes) -> int:
    """How many parties' updates a blob sums (1 for a fresh update)."""
    return len(_Blob.from_bytes(blob).seed_entries)


def contributor_names(blob: bytes) -> list[str]:
    """The contributors a blob's seed list names, in order; their tags are checked only by :meth:`SecretKeyring.decrypt`."""
    return [entry.contributor for entry in _Blob.from_bytes(blob).seed_entries]
