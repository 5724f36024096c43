"""The encryption levels a training can ask for (``crypto.cipher_spec``) and their CKKS parameters.

Aggregation only adds ciphertexts, so no level needs multiplicative depth: precision comes from the
scale (the number of fractional bits kept), and the data modulus only has to hold the scaled sum. A
ciphertext is sent as its first half, packed at the width of each prime, with the random half as a
seed, so each value costs ``data_modulus_bits / 8`` bytes on both legs (two reals per complex slot,
N of them per ciphertext): every bit of the modulus is paid for in bandwidth, and none is spent that
precision or the sum's range does not need.

Each level's scale is the smallest power of two whose measured error is at least 5x below the
level's bound (``max_error``). A single contributor has sqrt(3) times the noise of a mean of three,
a model of 100M values a maximum about 20% larger, and runs differ by about 15%: together 2.4x, so
5x covers them with room to spare, and no level's choice flips from one run to the next. The data
modulus then adds 10 bits to the scale: 8 for the range of the sum (any coordinate within +-256),
one for the sign, and one for the worst case of two reals per slot (a plaintext coefficient may
reach sqrt(2) times the slot values) plus the noise. Measured with ``benchmarks/he_levels.py``
(232,220 float32 values in [-1, 1), 3 parties, max error of the mean; one bit less scale misses
the 5x at every level):

| level | N    | data primes | scale | security | bound | measured | why                                          |
|-------|------|-------------|-------|----------|-------|----------|----------------------------------------------|
| 1     | 2048 | 41          | 2^31  | 128-bit  | 1e-6  | 1.3e-7   | float32 training; 41 bits within 54          |
| 2     | 4096 | 48          | 2^38  | 128-bit  | 1e-8  | 1.4e-9   | finer than float32's resolution; within 109  |
| 3     | 4096 | 55          | 2^45  | 192-bit  | 1e-10 | 1.1e-11  | within N=4096's 75 bits at 192-bit           |
| 4     | 8192 | 31, 31      | 2^52  | 256-bit  | 1e-12 | 1.2e-13  | two primes (SEAL stops at 60); 79 in 118     |

The security caps are the HomomorphicEncryption.org standard's for a ternary secret (N=2048: 54
bits for 128-bit; N=4096: 109 / 75 / 58 for 128 / 192 / 256; N=8192: 218 / 152 / 118), and SEAL
enforces them when it builds the context. With more than one prime SEAL reserves the last one for
key switching, which addition never does: it appears in the secret key and counts against the cap,
but not in ciphertexts, so level 4 gives it the smallest width SEAL finds a prime for at N=8192 (17
bits; a prime must be 1 mod 2N).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from fldecl.he.errors import HEError

# A sum may reach +-2**SUM_RANGE_BITS in every coordinate; the two bits above it are the sign and
# the sqrt(2) of two reals per slot (plus noise).
SUM_RANGE_BITS = 8
_SIGN_AND_PACKING_BITS = 2


@dataclass(frozen=True)
class CkksParameters:
    """One CKKS parameter set; ``library`` names the implementation that runs it."""

    name: str
    poly_modulus_degree: int
    coeff_modulus_bits: tuple[int, ...]
    scale_bits: int
    security_bits: int
    max_error: float
    library: str = "seal"

    @property
    def data_prime_bits(self) -> tuple[int, ...]:
        """Widths of the primes ciphertexts live in (all but SEAL's key-switching one)."""
        primes = self.coeff_modulus_bits
        return primes[:-1] if len(primes) > 1 else primes

    @property
    def data_modulus_bits(self) -> int:
        """Bits per ciphertext coefficient: what each value costs on the wire."""
        return sum(self.data_prime_bits)

    @property
    def values_per_ciphertext(self) -> int:
        """N/2 complex slots, each carrying two reals."""
        return self.poly_modulus_degree

    @property
    def max_abs_sum(self) -> float:
        """Largest magnitude an aggregated coordinate may reach and still decrypt correctly."""
        return float(2 ** (self.data_modulus_bits - self.scale_bits - _SIGN_AND_PACKING_BITS))

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> CkksParameters:
        """Read parameters a peer sent, accepting only a level this table defines, exactly."""
        try:
            fields = json.loads(data)
            fields["coeff_modulus_bits"] = tuple(fields["coeff_modulus_bits"])
            received = cls(**fields)
        except (ValueError, TypeError, KeyError) as error:
            raise HEError(f"encryption parameters are unreadable: {error}") from error
        if received != cipher_spec(received.name):
            raise HEError(f"encryption parameters differ from this fldecl's {received.name}")
        return received


CIPHER_SPECS: dict[str, CkksParameters] = {
    spec.name: spec
    for spec in (
        CkksParameters("encryption_level_1", 2048, (41,), 31, 128, 1e-6),
        CkksParameters("encryption_level_2", 4096, (48,), 38, 128, 1e-8),
        CkksParameters("encryption_level_3", 4096, (55,), 45, 192, 1e-10),
        CkksParameters("encryption_level_4", 8192, (31, 31, 17), 52, 256, 1e-12),
    )
}


def cipher_spec(name: str) -> CkksParameters:
    """Look a level up by the name a training manifest uses."""
    try:
        return CIPHER_SPECS[name]
    except KeyError:
        known = ", ".join(CIPHER_SPECS)
        raise HEError(f"unknown cipher spec {name!r}; expected one of {known}") from None
