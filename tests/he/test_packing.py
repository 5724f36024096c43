"""The aggregator's add over packed wire values agrees with adding the unpacked values."""

from __future__ import annotations

import numpy as np
import pytest

from fldecl.he import packing
from fldecl.he.params import CIPHER_SPECS, CkksParameters
from tests.he.wire_bits import pack_bits, unpack_bits

LENGTH_BYTES = 4  # a frame puts each row after its length: rows sit at every alignment


@pytest.mark.parametrize("spec", list(CIPHER_SPECS.values()), ids=list(CIPHER_SPECS))
@pytest.mark.parametrize("terms", [2, 3, 7])
def test_packed_add_is_the_sum_modulo_the_wire_width(spec: CkksParameters, terms: int) -> None:
    width, degree = spec.wire_bits, spec.poly_modulus_degree
    rng = np.random.default_rng(terms)
    rows = 5
    largest = np.uint64((1 << width) - 1)
    values = [rng.integers(0, 1 << width, size=(rows, degree), dtype=np.uint64) for _ in range(terms)]
    values[0][0] = largest  # every carry chain at its longest
    values[1][0] = largest
    values[0][1, ::2] = largest
    values[1][1, 1::2] = 1
    size = packing.packed_size(degree, width)
    framed = [np.zeros((rows, LENGTH_BYTES + size), dtype=np.uint8) for _ in range(terms + 1)]
    for frame, term in zip(framed, values, strict=False):
        frame[:, LENGTH_BYTES:] = pack_bits(term, width)
    out = framed[-1][:, LENGTH_BYTES:]
    packing.add_packed([frame[:, LENGTH_BYTES:] for frame in framed[:-1]], out, width)
    expected = np.zeros((rows, degree), dtype=np.uint64)
    for term in values:
        expected = (expected + term) & largest
    assert np.array_equal(unpack_bits(out, width, degree), expected)
