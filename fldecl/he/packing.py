"""How a first half travels: rounded to fewer bits than its prime, and packed at that width.

A first half c0 is uniform modulo the prime q, so it cannot be compressed, but it can be rounded:
``t = round(c0 * 2**w / q) mod 2**w`` keeps its top ``w`` bits, and ``round(t * q / 2**w)`` gives
c0 back up to half a step of ``q / 2**w``, an error added to the message like the encryption
noise, only larger. Rounding is linear enough to commute with addition: the sum of the ``t`` of
several parties, modulo ``2**w``, decompresses to the sum of their c0 modulo q, each party adding
at most half a step. The aggregator therefore adds ``w``-bit integers modulo ``2**w`` and never
needs q. Rounding is done on public values, so it costs no security; libraries store a
coefficient in a 64-bit word and then compress the zeros away, approximately, where packing it
into exactly ``w`` bits is the floor.
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
        raise HEError(f"ciphertext is corrupt: {len(data)} bytes where a ciphertext of these parameters takes {expected}")
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little", count=count * width).reshape(count, width)
    words = np.zeros((count, _WORD_BITS), dtype=np.uint8)
    words[:, :width] = bits
    return np.packbits(words, axis=1, bitorder="little").view("<u8").reshape(count).astype(np.uint64)


def compress(residues: np.ndarray, modulus: int, width: int) -> np.ndarray:
    """``round(c * 2**width / modulus) mod 2**width`` for residues ``c`` of a prime of ``width`` + d bits.

    With ``modulus = 2**b - g``: ``c * 2**width / modulus = c / 2**d + c * g / (modulus * 2**d)``.
    The first term splits exactly into integer and fraction; the second is below ``g / 2**d`` and
    exact to 1e-9 in float64, so the rounding is exact short of ties within 1e-9.
    """
    dropped = modulus.bit_length() - width
    gap = (1 << modulus.bit_length()) - modulus
    whole = residues >> np.uint64(dropped)
    fraction = (residues & np.uint64((1 << dropped) - 1)).astype(np.float64) / 2.0**dropped
    correction = residues.astype(np.float64) * (gap / modulus) / 2.0**dropped
    rounded = whole + np.rint(fraction + correction).astype(np.uint64)
    return rounded & np.uint64((1 << width) - 1)


def decompress(values: np.ndarray, modulus: int, width: int) -> np.ndarray:
    """``round(t * modulus / 2**width) mod modulus``: the residues :func:`compress` rounded, within half a step."""
    dropped = modulus.bit_length() - width
    gap = (1 << modulus.bit_length()) - modulus
    residues = (values << np.uint64(dropped)) - np.rint(values.astype(np.float64) * (gap / 2.0**width)).astype(np.uint64)
    return np.where(residues >= np.uint64(modulus), residues - np.uint64(modulus), residues)


def add(terms: list[np.ndarray], width: int) -> np.ndarray:
    """Sum of ``width``-bit values modulo ``2**width`` (uint64 wraps only above 2**64: no overflow for width <= 60)."""
    total = np.zeros_like(terms[0])
    mask = np.uint64((1 << width) - 1)
    for term in terms:
        total = (total + term) & mask
    return total
