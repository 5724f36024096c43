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

With ``q = 2**b - gap`` and ``d = b - w`` bits dropped, ``c * 2**w / q = c / 2**d + c * gap /
(q * 2**d)``: the first term splits exactly into integer and fraction, the second is below
``gap / 2**d`` and exact to 1e-9 in float64, so the rounding is exact short of ties within 1e-9.
``c`` may be any integer congruent to the residue, below 2**62 in magnitude: each multiple of the
prime adds exactly a multiple of ``2**w``, which the final modulo removes.

A row of N values packs into ``N * w / 8`` bytes: value ``j`` takes bits ``j * w`` to
``(j + 1) * w - 1``, lowest bit first, so a row is whole 64-bit words (N is a multiple of 64). A
party rounds and packs with :mod:`fldecl.he.codec`; this module is what the aggregator needs.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Words = NDArray[np.uint64]
Packed = NDArray[np.uint8]

_WORD_BYTES = 8
_ADD_CHUNK_BYTES = 1 << 18  # bytes of rows added at once, per term: they stay in the cache


def packed_size(count: int, width: int) -> int:
    """Bytes that ``count`` values of ``width`` bits take once packed."""
    return -(-count * width // 8)


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
