"""A party's side of the wire format (:mod:`fldecl.he.packing`), compiled: values in, packed rows out, and back.

Encoding a value, rounding its first half to the wire width and packing it is a few integer and
float operations per value; numpy would spend a pass over the rows and a temporary array on each,
about a tenth of SEAL's own encryption of the same values. numba compiles each direction
into two loops per row: the arithmetic, over contiguous rows, which the compiler vectorizes, and
the packing or unpacking, a value at a time. The arithmetic is the one the format describes, value
for value: any implementation of the format makes the same bytes.

Only a party imports this module (it loads numba's compiler); the aggregator adds packed rows with
numpy and needs neither.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numpy.typing import NDArray

from fldecl.he.packing import Packed, Words, packed_size

# Compiled and cached beside this module, so a party compiles only on its first run. The row kernels are compiled for
# their signatures when this module loads (contiguous arrays, read-only or not): none compiles in a round.
_compiled = numba.njit(cache=True, nogil=True)
_ENCODE_SIGNATURES = [
    numba.void(
        numba.int64[:, ::1], numba.types.Array(kind, 1, "C", readonly=True), numba.float64, numba.int64, numba.int64, numba.uint64[:, ::1]
    )
    for kind in (numba.float32, numba.float64)
]
_DECODE_SIGNATURE = numba.void(
    numba.types.Array(numba.uint8, 2, "C", readonly=True), numba.uint64[:, ::1], numba.int64, numba.int64, numba.float64, numba.float64[::1]
)

_WORD_BITS = 64
MAX_WIDTH = 56  # a value and the bits of the byte it starts in fit in one 64-bit word


def encode(
    first_halves: NDArray[np.int64], values: NDArray[np.floating[Any]], scale: float, modulus: int, width: int, out: Words | None = None
) -> Packed:
    """Rows of first halves plus ``round(value * scale)`` in each coefficient, rounded to ``width`` bits and packed.

    ``first_halves`` are the masks ``e - a*s`` (any integers congruent to them modulo the prime),
    one row per ciphertext; ``values`` fill the rows' coefficients in order, and the coefficients
    past them carry zeros. The packed rows are written into ``out`` if given (a row's words each).
    """
    _check(width)
    rows, degree = first_halves.shape
    shape = (rows, degree * width // _WORD_BITS)
    if out is None:
        out = np.empty(shape, dtype=np.uint64)
    elif out.shape != shape:
        raise ValueError(f"{out.shape} words do not hold {rows} packed rows of {degree} values of {width} bits")
    flat = np.ascontiguousarray(values.reshape(-1))
    _encode(first_halves, flat if flat.dtype in (np.float32, np.float64) else flat.astype(np.float64), scale, modulus, width, out)
    return out.view(np.uint8)


def decode(packed: Packed, products: Words, modulus: int, width: int, scale: float) -> NDArray[np.float64]:
    """The values that packed sums of first halves carry, given ``(sum a)*s`` of each ciphertext: ``(c0 + a*s) / scale``, centered.

    ``packed`` may be a view with any row stride (rows inside a received blob): a chunk's rows are
    copied together first, a small cost that lets the compiler read each value's bytes at once.
    """
    _check(width)
    rows, degree = products.shape
    if packed.shape != (rows, packed_size(degree, width)):
        raise ValueError(f"{packed.shape} packed bytes do not hold {rows} rows of {degree} values of {width} bits")
    out = np.empty(rows * degree, dtype=np.float64)
    _decode(np.ascontiguousarray(packed), products, modulus, width, 1.0 / scale, out)
    return out


def _check(width: int) -> None:
    if not 0 < width <= MAX_WIDTH:
        raise ValueError(f"wire values of 1 to {MAX_WIDTH} bits are supported, not {width}")


@_compiled
def _rounding(modulus: int, width: int) -> tuple[int, int, float, float]:
    """For a prime of ``b`` bits ``2**b - gap``: the ``d`` bits rounded away, ``gap``, ``gap / modulus`` and ``2**-d``."""
    bits = 0
    while modulus >> bits:
        bits += 1
    return bits - width, (1 << bits) - modulus, ((1 << bits) - modulus) / modulus, 1.0 / (1 << (bits - width))


@_compiled
def _to_wire(residue: np.int64, dropped: int, ratio: float, step: float, mask: np.uint64) -> np.uint64:
    """``round(c * 2**width / modulus) mod 2**width``, exact short of ties within 1e-9 (see :mod:`fldecl.he.packing`)."""
    fraction = (residue * ratio + (residue & ((1 << dropped) - 1))) * step  # step = 2**-dropped: exact
    return np.uint64((residue >> dropped) + np.int64(np.rint(fraction))) & mask


@_compiled
def _from_wire(value: np.uint64, dropped: int, gap: int, width: int, modulus: int) -> np.uint64:
    """``round(t * modulus / 2**width) mod modulus``: the residue :func:`_to_wire` rounded, within half a step."""
    residue = (value << np.uint64(dropped)) - np.uint64(np.rint(np.float64(value) * (gap / (1 << width))))
    return residue - np.uint64(modulus) if residue >= np.uint64(modulus) else residue


@numba.njit(_ENCODE_SIGNATURES, cache=True, nogil=True)
def _encode(first_halves: NDArray[np.int64], values: NDArray[Any], scale: float, modulus: int, width: int, out: Words) -> None:
    rows, degree = first_halves.shape
    dropped, _, ratio, step = _rounding(modulus, width)
    mask = np.uint64((1 << width) - 1)
    wires = np.empty(degree, dtype=np.uint64)
    for row in range(rows):
        # Rounded first, in a loop the compiler vectorizes; then packed, a value at a time into 64-bit words.
        carried = min(degree, max(0, values.size - row * degree))  # values this row carries; the rest carry zeros
        for column in range(carried):
            residue = first_halves[row, column] + np.int64(np.rint(np.float64(values[row * degree + column]) * scale))
            wires[column] = _to_wire(residue, dropped, ratio, step, mask)
        for column in range(carried, degree):
            wires[column] = _to_wire(first_halves[row, column], dropped, ratio, step, mask)
        word, filled, index = np.uint64(0), 0, 0  # the 64-bit word being filled, its bits so far, its index in the row
        for column in range(degree):
            word |= wires[column] << np.uint64(filled)
            filled += width
            if filled >= _WORD_BITS:
                out[row, index] = word
                index += 1
                filled -= _WORD_BITS
                word = wires[column] >> np.uint64(width - filled) if filled else np.uint64(0)


@numba.njit(_DECODE_SIGNATURE, cache=True, nogil=True)
def _decode(packed: Packed, products: Words, modulus: int, width: int, inverse_scale: float, out: NDArray[np.float64]) -> None:
    rows, degree = products.shape
    dropped, gap, _, _ = _rounding(modulus, width)
    mask = np.uint64((1 << width) - 1)
    prime = np.uint64(modulus)
    half = np.uint64(modulus // 2)
    size = packed.shape[1]
    wires = np.empty(degree, dtype=np.uint64)
    for row in range(rows):
        # Unpacked first: value j's bits start in byte j * width // 8, and the 8 bytes from there hold all of them (the
        # last values' bytes run past the row, and are read one at a time); then the rest, in a loop that vectorizes.
        for column in range(degree):
            start = column * width
            first = start >> 3
            word = np.uint64(0)
            if first + 8 <= size:
                for byte in range(8):
                    word |= np.uint64(packed[row, first + byte]) << np.uint64(8 * byte)
            else:
                for byte in range(size - first):
                    word |= np.uint64(packed[row, first + byte]) << np.uint64(8 * byte)
            wires[column] = (word >> np.uint64(start & 7)) & mask
        for column in range(degree):
            total = _from_wire(wires[column], dropped, gap, width, modulus) + products[row, column]
            total = total - prime if total >= prime else total
            centered = np.int64(total) - np.int64(prime) if total > half else np.int64(total)
            out[row * degree + column] = centered * inverse_scale
