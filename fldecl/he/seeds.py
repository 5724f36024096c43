"""The seed list of an encrypted blob: one entry per contributor, bound to what it belongs to.

A contributor's random halves are expanded from its seed, so the list must arrive intact: a seed
left out, added or altered would turn the decrypted sum into noise. Each entry names its
contributor and carries a tag, an HMAC under a key derived from the training's secret key, over
the seed, the contributor's name, the key id, the parameters and the number of values. The
aggregator, who has no secret key, can neither forge an entry nor alter one unnoticed; a party
checks every tag before it decrypts, and the sum's range afterwards (see :mod:`fldecl.he.keyring`).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from fldecl.he.errors import HEError

SEED_SIZE = 32
TAG_SIZE = 16
MAX_NAME_BYTES = 255
_TAG_KEY_LABEL = b"fldecl-he seed tags/1"
_LENGTH = struct.Struct("<I")


@dataclass(frozen=True)
class SeedEntry:
    """One contributor's seed and the tag that binds it to the contributor and the blob."""

    contributor: str
    seed: bytes
    tag: bytes


def tag_key(secret_key: bytes) -> bytes:
    """The tag key of a training: only holders of its secret key can compute it."""
    return hmac.new(secret_key, _TAG_KEY_LABEL, hashlib.sha256).digest()


def make_entry(key: bytes, binding: bytes, contributor: str, seed: bytes) -> SeedEntry:
    """An entry for ``seed``; ``binding`` says what the ciphertexts belong to (key id, parameters, size)."""
    name = contributor.encode()
    if not 0 < len(name) <= MAX_NAME_BYTES:
        raise HEError(f"a contributor name takes 1 to {MAX_NAME_BYTES} bytes, got {len(name)}")
    return SeedEntry(contributor, seed, _tag(key, binding, name, seed))


def is_authentic(entry: SeedEntry, key: bytes, binding: bytes) -> bool:
    return hmac.compare_digest(entry.tag, _tag(key, binding, entry.contributor.encode(), entry.seed))


def _tag(key: bytes, binding: bytes, name: bytes, seed: bytes) -> bytes:
    message = b"".join(_LENGTH.pack(len(part)) + part for part in (binding, name, seed))
    return hmac.new(key, message, hashlib.sha256).digest()[:TAG_SIZE]


def pack_list(entries: Sequence[SeedEntry]) -> bytes:
    """``name length | name | seed | tag`` per entry."""
    parts = []
    for entry in entries:
        name = entry.contributor.encode()
        parts += [bytes([len(name)]), name, entry.seed, entry.tag]
    return b"".join(parts)


def unpack_list(data: bytes) -> list[SeedEntry]:
    """The entries of a packed list; raise HEError if it does not parse or repeats a seed or a contributor."""
    entries, offset = [], 0
    while offset < len(data):
        name_length = data[offset]
        end = offset + 1 + name_length + SEED_SIZE + TAG_SIZE
        if name_length == 0 or end > len(data):
            raise HEError("ciphertext is corrupt: its seed list is truncated or malformed")
        name = data[offset + 1 : offset + 1 + name_length]
        seed = data[end - SEED_SIZE - TAG_SIZE : end - TAG_SIZE]
        try:
            contributor = name.decode()
        except UnicodeDecodeError:
            raise HEError("ciphertext is corrupt: a name in its seed list is not UTF-8") from None
        entries.append(SeedEntry(contributor, seed, data[end - TAG_SIZE : end]))
        offset = end
    check_distinct(entries)
    return entries


def check_distinct(entries: Sequence[SeedEntry]) -> None:
    """A seed or a contributor twice means one update would count twice: refuse it."""
    seen_seeds: set[bytes] = set()
    seen_names: set[str] = set()
    for entry in entries:
        if entry.seed in seen_seeds:
            raise HEError(f"the seed list repeats a seed of {entry.contributor!r}: one update would count twice")
        if entry.contributor in seen_names:
            raise HEError(f"the seed list names {entry.contributor!r} twice: one party would count twice")
        seen_seeds.add(entry.seed)
        seen_names.add(entry.contributor)
