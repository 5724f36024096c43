"""The wire's packing spelled out bit by bit with numpy's bit arrays: an oracle for the packing the code does word by word."""

from __future__ import annotations

import numpy as np


def pack_bits(values: np.ndarray, width: int) -> np.ndarray:
    """Rows of values below ``2**width`` as rows of bytes: the low ``width`` bits of each value in turn, lowest bit first."""
    rows = values.shape[0]
    bits = np.unpackbits(values.astype("<u8").view(np.uint8).reshape(rows, -1, 8), axis=-1, bitorder="little")[..., :width]
    return np.packbits(bits.reshape(rows, -1), axis=-1, bitorder="little")


def unpack_bits(packed: np.ndarray, width: int, count: int) -> np.ndarray:
    """The ``count`` values of ``width`` bits of each row of ``packed``, as uint64."""
    rows = packed.shape[0]
    bits = np.unpackbits(packed, axis=-1, bitorder="little")[:, : count * width].reshape(rows, count, width)
    words = np.zeros((rows, count, 64), dtype=np.uint8)
    words[..., :width] = bits
    return np.packbits(words, axis=-1, bitorder="little").view("<u8").reshape(rows, count)
