"""The byte framing shared by keyrings, public contexts and ciphertext blobs.

A frame is ``magic | version | kind | field count | (length | field)* | sha256``. The kind keeps
one sort of object from being read as another (a public context is never a keyring), and the
digest catches truncation and bit flips in transit before SEAL parses anything. The digest is no
defence against someone who rewrites a frame on purpose: they can recompute it.
"""

from __future__ import annotations

import hashlib
import struct
from enum import Enum

from fldecl.he.errors import HEError

MAGIC = b"FLHE"
FORMAT_VERSION = 2
_PREFIX = struct.Struct("<4sBBI")
_LENGTH = struct.Struct("<I")
_DIGEST_SIZE = hashlib.sha256().digest_size


class Kind(Enum):
    """What a frame holds; the value is the label used in error messages."""

    SECRET_KEYRING = "secret keyring"
    PUBLIC_CONTEXT = "public context"
    CIPHERTEXT = "ciphertext"


_KIND_CODES = {Kind.SECRET_KEYRING: 1, Kind.PUBLIC_CONTEXT: 2, Kind.CIPHERTEXT: 3}
_KINDS_BY_CODE = {code: kind for kind, code in _KIND_CODES.items()}


def pack(kind: Kind, fields: list[bytes]) -> bytes:
    parts = [_PREFIX.pack(MAGIC, FORMAT_VERSION, _KIND_CODES[kind], len(fields))]
    for field in fields:
        parts += [_LENGTH.pack(len(field)), field]
    body = b"".join(parts)
    return body + hashlib.sha256(body).digest()


def unpack(data: bytes, kind: Kind) -> list[bytes]:
    """Return the fields of a frame of the expected kind, or raise HEError saying what is wrong."""
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
    body, digest = data[:-_DIGEST_SIZE], data[-_DIGEST_SIZE:]
    if hashlib.sha256(body).digest() != digest:
        raise HEError(f"{corrupt}: checksum mismatch")
    return _split_fields(body, _PREFIX.size, count, corrupt)


def _split_fields(body: bytes, offset: int, count: int, corrupt: str) -> list[bytes]:
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
    if offset != len(body):
        raise HEError(f"{corrupt}: {len(body) - offset} trailing bytes")
    return fields
