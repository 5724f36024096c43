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

Packing works on groups of 8 values, which fill exactly ``w`` bytes: value ``j`` of a group starts
at bit ``j * w``, so one unaligned 64-bit word read at byte ``j * w // 8`` holds all of it (``w`` is
at most 56). Each of the 8 lanes is then one strided numpy operation over every group of every
row at once: no Python work per value or per ciphertext.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided
from numpy.typing import NDArray

from fldecl.he.errors import HEError

Words = NDArray[np.uint64]
Packed = NDArray[np.uint8]

_GROUP = 8  # values per group; a group of w-bit values takes w bytes
_WORD_BYTES = 8
MAX_WIDTH = 56  # a value and its shift within a byte fit in one 64-bit word
_ADD_CHUNK_BYTES = 1 << 18  # bytes of rows added at once, per term: they stay in the cache


def packed_size(count: int, width: int) -> int:
    """Bytes that ``count`` values of ``width`` bits take once packed."""
    return -(-count * width // 8)


def _lanes(width: int) -> list[tuple[int, np.uint64]]:
    """Where value ``j`` of a group starts: its byte, and its bit within that byte."""
    if not 0 < width <= MAX_WIDTH:
        raise ValueError(f"packing supports widths of 1 to {MAX_WIDTH} bits, got {width}")
    return [(lane * width // 8, np.uint64(lane * width % 8)) for lane in range(_GROUP)]


def pack_rows(values: Words, width: int) -> Packed:
    """Rows of ``n`` values below ``2**width`` (``n`` a multiple of 8) as rows of ``n * width / 8`` bytes, lowest bit first."""
    rows, count = values.shape
    groups = count // _GROUP
    padded = np.zeros((rows, groups, width + _WORD_BYTES), dtype=np.uint8)
    lanes = values.reshape(rows, groups, _GROUP)
    for lane, (offset, shift) in enumerate(_lanes(width)):
        word = padded[:, :, offset : offset + _WORD_BYTES].view("<u8")[:, :, 0]
        word |= lanes[:, :, lane] << shift
    return padded[:, :, :width].reshape(rows, groups * width)


def _lane_words(packed: Packed, width: int) -> list[tuple[Words, Words, np.uint64]]:
    """Per lane: the 64-bit words that hold its values in every group but the last, those of the last group, and the shift.

    The last group is read from a padded copy: its last lanes' words reach past the row.
    """
    rows, size = packed.shape
    groups = size // width
    tail = np.zeros((rows, width + _WORD_BYTES), dtype=np.uint8)
    tail[:, :width] = packed[:, size - width :]
    words = []
    for offset, shift in _lanes(width):
        first = packed[:, offset : offset + _WORD_BYTES].view("<u8")
        body = as_strided(first, shape=(rows, groups - 1), strides=(packed.strides[0], width))
        words.append((body, tail[:, offset : offset + _WORD_BYTES].view("<u8"), shift))
    return words


def unpack_rows(packed: Packed, width: int) -> Words:
    """The values :func:`pack_rows` made, as uint64; ``packed`` may be a view with any row stride."""
    rows, size = packed.shape
    groups = size // width
    values = np.empty((_GROUP, rows, groups), dtype=np.uint64)  # lane-major: each lane's values are contiguous
    for lane, (body, tail, shift) in enumerate(_lane_words(packed, width)):
        np.right_shift(body, shift, out=values[lane, :, :-1])
        np.right_shift(tail, shift, out=values[lane, :, -1:])
    values &= np.uint64((1 << width) - 1)
    return values.transpose(1, 2, 0).reshape(rows, groups * _GROUP)


def pack(values: Words, width: int) -> bytes:
    """Concatenate the low ``width`` bits of each unsigned value, least significant bit first."""
    count = values.size
    padded = np.zeros((1, -(-count // _GROUP) * _GROUP), dtype=np.uint64)
    padded[0, :count] = np.asarray(values, dtype=np.uint64).reshape(-1) & np.uint64((1 << width) - 1)
    return pack_rows(padded, width).tobytes()[: packed_size(count, width)]


def unpack(data: bytes, width: int, count: int) -> Words:
    """The ``count`` values :func:`pack` made, as uint64; raise HEError if ``data`` has the wrong length."""
    expected = packed_size(count, width)
    if len(data) != expected:
        raise HEError(f"ciphertext is corrupt: {len(data)} bytes where a ciphertext of these parameters takes {expected}")
    padded = np.zeros((1, packed_size(-(-count // _GROUP) * _GROUP, width)), dtype=np.uint8)
    padded[0, :expected] = np.frombuffer(data, dtype=np.uint8)
    return unpack_rows(padded, width)[0, :count]


def add_packed(operands: list[Packed], out: Packed, width: int) -> None:
    """The sum modulo ``2**width`` of packed rows (one array of rows per term, all of ``out``'s shape), packed into ``out``.

    The rows are added as they are, 64 bits at a time, without unpacking (SIMD within a
    register): with the top bit of every value cleared, the values of two terms add without a
    carry leaving any value, a carry leaving a 64-bit word is one that a value straddling two
    words passes on to its upper part in the next word, and the top bits, added modulo 2, are
    put back by an exclusive or. Rows must be whole 64-bit words, values starting at bit 0: a
    row's last value then ends in its last word, and no carry crosses rows. A term is copied once
    into an aligned scratch, a few rows at a time, so the work stays in the cache.
    """
    rows, size = out.shape
    if size % _WORD_BYTES:
        raise ValueError(f"rows of {size} bytes are not whole 64-bit words")
    high = _top_bits(width, size // _WORD_BYTES)
    low = ~high
    step = max(1, _ADD_CHUNK_BYTES // size)
    total, term, tops = (np.empty((min(rows, step), size // _WORD_BYTES), dtype=np.uint64) for _ in range(3))
    carries = np.empty(total.shape, dtype=np.bool_)
    for start in range(0, rows, step):
        stop = min(rows, start + step)
        count = stop - start
        chunk_total, chunk_term, chunk_tops, chunk_carries = total[:count], term[:count], tops[:count], carries[:count]
        chunk_total.view(np.uint8)[:] = operands[0][start:stop]
        for operand in operands[1:]:
            chunk_term.view(np.uint8)[:] = operand[start:stop]
            np.bitwise_xor(chunk_total, chunk_term, out=chunk_tops)
            chunk_tops &= high
            chunk_total &= low
            chunk_term &= low
            chunk_total += chunk_term
            np.less(chunk_total, chunk_term, out=chunk_carries)  # the words whose sum wrapped around
            np.add(chunk_total[:, 1:], chunk_carries[:, :-1], out=chunk_total[:, 1:])
            chunk_total ^= chunk_tops
        out[start:stop] = chunk_total.view(np.uint8)


def _top_bits(width: int, words: int) -> Words:
    """The 64-bit words of a row of ``width``-bit values with only each value's top bit set."""
    tops = np.arange(1, words * 64 // width + 1, dtype=np.int64) * width - 1
    high = np.zeros(words, dtype=np.uint64)
    np.bitwise_or.at(high, tops // 64, np.left_shift(np.uint64(1), (tops % 64).astype(np.uint64)))
    return high


def compress(residues: NDArray[np.integer[Any]], modulus: int, width: int) -> Words:
    """``round(c * 2**width / modulus) mod 2**width`` for residues ``c`` of a prime of ``width`` + d bits.

    With ``modulus = 2**b - g``: ``c * 2**width / modulus = c / 2**d + c * g / (modulus * 2**d)``.
    The first term splits exactly into integer and fraction; the second is below ``g / 2**d`` and
    exact to 1e-9 in float64, so the rounding is exact short of ties within 1e-9. ``c`` may be
    given by any integer congruent to it modulo the prime, signed, below 2**62 in magnitude: each
    multiple of the prime adds exactly a multiple of ``2**width``, which the final modulo removes.
    """
    kind = residues.dtype.type
    dropped = modulus.bit_length() - width
    gap = (1 << modulus.bit_length()) - modulus
    fraction = np.multiply(residues, gap / modulus, dtype=np.float64)
    low = residues & kind((1 << dropped) - 1)
    fraction += low
    fraction *= 1.0 / 2.0**dropped
    whole = residues >> kind(dropped)
    whole += np.rint(fraction, out=low, casting="unsafe")
    whole &= kind((1 << width) - 1)
    return whole.view(np.uint64)


def decompress(values: Words, modulus: int, width: int) -> Words:
    """``round(t * modulus / 2**width) mod modulus``: the residues :func:`compress` rounded, within half a step."""
    dropped = modulus.bit_length() - width
    gap = (1 << modulus.bit_length()) - modulus
    correction = values.astype(np.float64)
    correction *= gap / 2.0**width
    residues = values << np.uint64(dropped)
    residues -= np.rint(correction, out=correction).astype(np.uint64)
    np.subtract(residues, np.uint64(modulus), out=residues, where=residues >= np.uint64(modulus))
    return residues


def add(terms: list[Words], width: int) -> Words:
    """Sum of ``width``-bit values modulo ``2**width`` (uint64 wraps only above 2**64: no overflow for width <= 60)."""
    total = np.zeros_like(terms[0])
    mask = np.uint64((1 << width) - 1)
    for term in terms:
        total = (total + term) & mask
    return total
