"""Bit-packing of ciphertext coefficients at the width of their prime.

Libraries store a coefficient modulo a 41-bit prime in a 64-bit word and then compress the zeros
away, approximately; packing it into exactly 41 bits is the floor for a value that is uniform
modulo the prime, and costs one numpy pass.
"""

from __future__ import annotations

import numpy as np

from fldecl.he.errors import HEError

_WORD_BITS = 64


def packed_size(count: int, width: int) -> int:
    """Bytes that ``count`` values of ``width`` bits take once packed."""
    return -(-count * width // 8)


def pack(values: np.ndarray, width: int) -> bytes:
    """Concatenate the low ``width`` bits of each unsigned value, least significant bit first."""
    words = np.ascontiguousarray(values, dtype="<u8").view(np.uint8).reshape(-1, 8)
    bits = np.unpackbits(words, axis=1, bitorder="little")[:, :width]
    return np.packbits(bits.reshape(-1), bitorder="little").tobytes()


def unpack(data: bytes, width: int, count: int) -> np.ndarray:
    """The ``count`` values :func:`pack` made, as uint64; raise HEError if ``data`` has the wrong length."""
    expected = packed_size(count, width)
    if len(data) != expected:
        raise HEError(f"ciphertext is corrupt: {len(data)} bytes where {count} coefficients of {width} bits take {expected}")
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little", count=count * width).reshape(count, width)
    words = np.zeros((count, _WORD_BITS), dtype=np.uint8)
    words[:, :width] = bits
    return np.packbits(words, axis=1, bitorder="little").view("<u8").reshape(count).astype(np.uint64)
