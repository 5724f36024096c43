"""A party's compiled side of the wire: rounding to the wire width, packing, and the way back."""

from __future__ import annotations

import numpy as np
import pytest

from fldecl.he import codec, packing
from fldecl.he.backend import load_backend
from fldecl.he.params import CIPHER_SPECS, CkksParameters
from fldecl.he.seal_backend import SealBackend
from tests.he.wire_bits import pack_bits, unpack_bits

LENGTH_BYTES = 4  # a blob puts each row after its length: rows sit at every alignment
NOTHING = np.zeros(0)
SPECS = pytest.mark.parametrize("spec", list(CIPHER_SPECS.values()), ids=list(CIPHER_SPECS))


def residues_of(spec: CkksParameters, rows: int, seed: int) -> tuple[SealBackend, np.ndarray]:
    backend = load_backend(spec)
    assert isinstance(backend, SealBackend)
    residues = np.random.default_rng(seed).integers(0, backend.modulus, size=(rows, backend.degree), dtype=np.uint64)
    residues[0, :3] = [0, backend.modulus - 1, backend.modulus // 2]
    return backend, residues


@SPECS
def test_each_residue_goes_to_the_nearest_wire_value_packed_lowest_bit_first(spec: CkksParameters) -> None:
    backend, residues = residues_of(spec, 2, 9)
    modulus, width = backend.modulus, spec.wire_bits
    packed = codec.encode(residues.view(np.int64), NOTHING, backend.scale, modulus, width)
    exact = np.array([[((int(value) << width) + modulus // 2) // modulus % (1 << width) for value in row] for row in residues])
    assert np.array_equal(unpack_bits(packed, width, backend.degree), exact.astype(np.uint64))
    assert np.array_equal(packed, pack_bits(exact.astype(np.uint64), width))


@SPECS
def test_any_integer_congruent_to_the_residue_rounds_alike(spec: CkksParameters) -> None:
    backend, residues = residues_of(spec, 1, 4)
    expected = codec.encode(residues.view(np.int64), NOTHING, backend.scale, backend.modulus, spec.wire_bits)
    for multiple in (-2, -1, 1, 3):
        congruent = residues.astype(np.int64) + np.int64(multiple * backend.modulus)
        assert np.array_equal(codec.encode(congruent, NOTHING, backend.scale, backend.modulus, spec.wire_bits), expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_each_value_is_rounded_into_its_own_coefficient_and_the_rest_carry_zero(dtype: type) -> None:
    spec = CIPHER_SPECS["encryption_level_1"]
    backend, residues = residues_of(spec, 2, 5)
    values = np.random.default_rng(6).uniform(-1, 1, backend.degree + 5).astype(dtype)
    with_values = residues.astype(np.int64)
    with_values.reshape(-1)[: values.size] += np.rint(values.astype(np.float64) * backend.scale).astype(np.int64)
    expected = codec.encode(with_values, NOTHING, backend.scale, backend.modulus, spec.wire_bits)
    assert np.array_equal(codec.encode(residues.view(np.int64), values, backend.scale, backend.modulus, spec.wire_bits), expected)


@SPECS
def test_summed_rows_decode_to_the_sum_of_the_residues_within_a_step_per_term(spec: CkksParameters) -> None:
    backend, residues = residues_of(spec, 3, 7)
    modulus, width = backend.modulus, spec.wire_bits
    size = packing.packed_size(backend.degree, width)
    framed = np.zeros((4, 1, LENGTH_BYTES + size), dtype=np.uint8)
    for frame, row in zip(framed, residues, strict=False):
        frame[:, LENGTH_BYTES:] = codec.encode(row[np.newaxis].view(np.int64), NOTHING, backend.scale, modulus, width)
    total = framed[3, :, LENGTH_BYTES:]
    packing.add_packed([frame[:, LENGTH_BYTES:] for frame in framed[:3]], total, width)
    minus_sum = (-(residues.astype(object).sum(axis=0)) % modulus).astype(np.uint64)[np.newaxis]
    # The scale 1 decodes the sum of the decompressed rows minus the sum of the residues: the rounding, centered.
    rounding = codec.decode(total, minus_sum, modulus, width, 1.0)
    step = modulus / 2**width
    assert np.max(np.abs(rounding)) <= 3 * step / 2 + 1


def test_decode_refuses_packed_rows_of_another_shape() -> None:
    spec = CIPHER_SPECS["encryption_level_1"]
    backend, residues = residues_of(spec, 2, 3)
    packed = codec.encode(residues.view(np.int64), NOTHING, backend.scale, backend.modulus, spec.wire_bits)
    with pytest.raises(ValueError, match="do not hold"):
        codec.decode(packed[:1], residues, backend.modulus, spec.wire_bits, backend.scale)
