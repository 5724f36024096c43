"""The byte framing shared by keyrings, public contexts and ciphertext blobs.

A frame is ``magic | version | kind | field count | (length | field)* | blake3``. The kind keeps
one sort of object from being read as another (a public context is never a keyring), and the
digest catches truncation and bit flips in transit before SEAL parses anything. The digest is no
defence against someone who rewrites a frame on purpose: they can recompute it. BLAKE3 (256 bits,
as SHA-256 before it) hashes several times faster than SHA-256, which matters to the aggregator:
it checks every blob it adds and hashes the sum it sends back.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence
from enum import Enum

import numpy as np
from blake3 import blake3
from numpy.typing import NDArray

from fldecl.he.errors import HEError

Buffer = bytes | bytearray | memoryview

MAGIC = b"FLHE"
# 3: random halves expand in NTT form (SEAL's own convention for a seeded CKKS ciphertext) and
# secret keys are stored uncompressed; older objects are refused by version, not decrypted to noise.
# 4: the digest is BLAKE3 instead of SHA-256 (same size).
# 5: random halves expand from a seed by AES-256-CTR and rejection sampling, not by SEAL's Blake2xb.
FORMAT_VERSION = 5
_PREFIX = struct.Struct("<4sBBI")
_LENGTH = struct.Struct("<I")
_DIGEST_SIZE = 32


class Kind(Enum):
    """What a frame holds; the value is the label used in error messages."""

    SECRET_KEYRING = "secret keyring"
    PUBLIC_CONTEXT = "public context"
    CIPHERTEXT = "ciphertext"


_KIND_CODES = {Kind.SECRET_KEYRING: 1, Kind.PUBLIC_CONTEXT: 2, Kind.CIPHERTEXT: 3}
_KINDS_BY_CODE = {code: kind for kind, code in _KIND_CODES.items()}


class Writer:
    """Writes one frame, of a size known in advance, in place: a large frame is never held twice.

    The frame is allocated once, at its final size, and hashed once, when it is finished; fields
    that are rows of one table (first halves) can be computed straight into it (:meth:`rows`).
    """

    def __init__(self, kind: Kind, field_count: int, fields_size: int) -> None:
        self._stream = io.BytesIO()
        self._stream.seek(frame_size(field_count, fields_size) - 1)
        self._stream.write(b"\0")
        self._frame = np.frombuffer(self._stream.getbuffer(), dtype=np.uint8)
        self._offset = 0
        self._write(_PREFIX.pack(MAGIC, FORMAT_VERSION, _KIND_CODES[kind], field_count))

    def _write(self, data: Buffer) -> None:
        self._frame[self._offset : self._offset + len(data)] = np.frombuffer(data, dtype=np.uint8)
        self._offset += len(data)

    def field(self, data: Buffer) -> None:
        self._write(_LENGTH.pack(len(data)))
        self._write(data)

    def rows(self, count: int, size: int) -> NDArray[np.uint8]:
        """The next ``count`` fields of ``size`` bytes each, as rows of a writable view for the caller to fill."""
        framed = self._frame[self._offset : self._offset + count * (_LENGTH.size + size)].reshape(count, _LENGTH.size + size)
        framed[:, : _LENGTH.size] = np.frombuffer(_LENGTH.pack(size), dtype=np.uint8)
        self._offset += framed.size
        return framed[:, _LENGTH.size :]

    def table(self, rows: NDArray[np.uint8]) -> None:
        """One field per row of a 2-D uint8 array."""
        self.rows(*rows.shape)[:] = rows

    def finish(self) -> bytes:
        """The frame: BytesIO hands over its buffer without a copy once no view of it is left."""
        body = self._frame[: self._offset]
        self._write(_digest(body.data))
        del body, self._frame
        return self._stream.getvalue()


def _digest(data: Buffer) -> bytes:
    """The frame's blake3, on every core for a large frame (blake3 splits it into chunks hashed in parallel)."""
    return blake3(data, max_threads=blake3.AUTO).digest()


def frame_size(field_count: int, fields_size: int) -> int:
    """Bytes of a frame whose ``field_count`` fields take ``fields_size`` bytes."""
    return _PREFIX.size + field_count * _LENGTH.size + fields_size + _DIGEST_SIZE


def pack(kind: Kind, fields: Sequence[Buffer]) -> bytes:
    writer = Writer(kind, len(fields), sum(map(len, fields)))
    for field in fields:
        writer.field(field)
    return writer.finish()


def _check(data: Buffer, kind: Kind) -> tuple[int, memoryview]:
    """The field count and body of a frame of the expected kind, or HEError saying what is wrong."""
    corrupt = f"{kind.value} is corrupt"
    if len(data) < _PREFIX.size + _DIGEST_SIZE:
        raise HEError(f"{corrupt}: {len(data)} bytes is too short")
    magic, version, code, count = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise HEError(f"{corrupt}: it is not an fldecl HE object")
    if version != FORMAT_VERSION:
        raise HEError(f"{kind.value} has format version {version}; this fldecl reads {FORMAT_VERSION}")
    if code != _KIND_CODES[kind]:
        found = _KINDS_BY_CODE.get(code)
        raise HEError(f"expected a {kind.value}, got {found.value if found else 'an unknown object'}")
    view = memoryview(data)
    body, digest = view[:-_DIGEST_SIZE], view[-_DIGEST_SIZE:]
    if _digest(body) != digest:
        raise HEError(f"{corrupt}: checksum mismatch")
    return count, body


def unpack(data: Buffer, kind: Kind) -> list[bytes]:
    """Return the fields of a frame of the expected kind, or raise HEError saying what is wrong."""
    count, body = _check(data, kind)
    offset, fields = split_fields(body, _PREFIX.size, count, f"{kind.value} is corrupt")
    if offset != len(body):
        raise HEError(f"{kind.value} is corrupt: {len(body) - offset} trailing bytes")
    return [bytes(field) for field in fields]


def read(data: Buffer, kind: Kind, head: int) -> tuple[list[bytes], memoryview, int]:
    """The first ``head`` fields of a frame, and the region and the count of the fields after them; nothing else is copied."""
    count, body = _check(data, kind)
    if count < head:
        raise HEError(f"{kind.value} is corrupt: missing header fields")
    offset, fields = split_fields(body, _PREFIX.size, head, f"{kind.value} is corrupt")
    return [bytes(field) for field in fields], body[offset:], count - head


def table(region: memoryview, count: int, size: int) -> NDArray[np.uint8] | None:
    """``count`` fields of ``size`` bytes each as rows of a 2-D uint8 view of ``region``, or None if they are not exactly that."""
    stride = _LENGTH.size + size
    if len(region) != count * stride:
        return None
    framed = np.frombuffer(region, dtype=np.uint8).reshape(count, stride)
    lengths = framed[:, : _LENGTH.size].view("<u4")
    if count and not np.all(lengths == size):
        return None
    return framed[:, _LENGTH.size :]


def split_fields(body: memoryview, offset: int, count: int, corrupt: str) -> tuple[int, list[memoryview]]:
    """``count`` fields from ``offset`` on, and where they end."""
    fields = []
    for _ in range(count):
        if offset + _LENGTH.size > len(body):
            raise HEError(f"{corrupt}: truncated field table")
        (length,) = _LENGTH.unpack_from(body, offset)
        offset += _LENGTH.size
        if offset + length > len(body):
            raise HEError(f"{corrupt}: truncated field")
        fields.append(body[offset : offset + length])
        offset += length
    return offset, fields
