"""The encryption levels a training can ask for (``crypto.cipher_spec``) and their CKKS parameters.

Aggregation only adds ciphertexts, so no level needs multiplicative depth or more than one prime.
Values sit in the plaintext's coefficients, scaled by 2**scale_bits; a ciphertext travels as its
first half alone (the random half is a seed), rounded from the prime's width to ``wire_bits`` and
packed at that width, so each value costs ``wire_bits / 8`` bytes on both legs. The prime is 8 bits
wider than the wire: the encryption noise (SEAL's centered binomial, |e| <= 21) sits in the bits
that never travel, where the rounding (up to 128 units per party) dwarfs it. The scale leaves 10
bits of the prime: 8 for the range of the sum (any coordinate within +-256), one for the sign and
one so that a sum decrypted with the wrong seeds lands outside the range with probability 1/2 per
coefficient, where a party catches it.

Each value of the mean is then off by at most ``(2**7 + 23) / 2**scale_bits`` (half a wire step per
party, the noise, the rounding of encoding and decompression; plus about 1e-15 of the value itself
from double-precision encoding), whatever the number of parties or values. Each level's bound
(``max_error``) is at least 5x above that worst case, and the measured maximum lies below it.
Measured with ``benchmarks/he_levels.py`` (232,220 float32 values in [-1, 1), 3 parties, max error
of the mean):

| level | N    | prime | scale | wire bits | security | worst case | measured | bound |
|-------|------|-------|-------|-----------|----------|------------|----------|-------|
| 1     | 2048 | 50    | 2^40  | 42        | 128-bit  | 1.4e-10    | 1.2e-10  | 1e-9  |
| 2     | 4096 | 53    | 2^43  | 45        | 128-bit  | 1.7e-11    | 1.5e-11  | 1e-10 |
| 3     | 4096 | 57    | 2^47  | 49        | 192-bit  | 1.1e-12    | 9.2e-13  | 1e-11 |
| 4     | 8192 | 60    | 2^50  | 52        | 256-bit  | 1.3e-13    | 1.2e-13  | 1e-12 |

Level 1's wire is the widest that keeps an update within 1.35x the float32 plaintext, and the
precision is not idle: training the example's model is chaotic enough that an error in the fused
model can flip the prediction of a test point near the boundary (1 of 357, 0.28 pp of accuracy),
the more often the larger the error. With errors near 1e-7, about half of 3-round trainings ended
one point off ``iter_avg``; at level 1, 2 of 32 did, and none of 16 2-round ones. Each further
level is a decade more precise.

The security caps are the HomomorphicEncryption.org standard's for a ternary secret (N=2048: 54
bits for 128-bit; N=4096: 109 / 75 / 58 for 128 / 192 / 256; N=8192: 218 / 152 / 118), and SEAL
enforces them when it builds the context; one prime needs no key-switching prime beside it.
SEAL's primes stop at 60 bits.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from fldecl.he.errors import HEError

# A sum may reach +-2**SUM_RANGE_BITS in every coordinate; the two bits above it in the prime are
# the sign and the margin that exposes a wrong seed list.
SUM_RANGE_BITS = 8
_SIGN_AND_MARGIN_BITS = 2
# SEAL's noise is centered binomial, |e| <= 21; encoding and decompression round by at most 1 more.
_NOISE_AND_ROUNDING = 23


@dataclass(frozen=True)
class CkksParameters:
    """One CKKS parameter set; ``library`` names the implementation that runs it."""

    name: str
    poly_modulus_degree: int
    coeff_modulus_bits: tuple[int, ...]
    scale_bits: int
    wire_bits: int
    security_bits: int
    max_error: float
    library: str = "seal"

    @property
    def data_modulus_bits(self) -> int:
        """Bits of the prime ciphertexts live in (all primes but SEAL's key-switching one, if any)."""
        primes = self.coeff_modulus_bits
        return sum(primes[:-1]) if len(primes) > 1 else primes[0]

    @property
    def values_per_ciphertext(self) -> int:
        """One value per coefficient of the plaintext."""
        return self.poly_modulus_degree

    @property
    def max_abs_sum(self) -> float:
        """Largest magnitude an aggregated coordinate may reach and still decrypt correctly."""
        return float(2 ** (self.data_modulus_bits - self.scale_bits - _SIGN_AND_MARGIN_BITS))

    @property
    def worst_case_error(self) -> float:
        """The most any value of a decrypted mean can be off: half a wire step per party plus noise and rounding."""
        half_wire_step = 2.0 ** (self.data_modulus_bits - self.wire_bits - 1)
        return (half_wire_step + _NOISE_AND_ROUNDING) / 2.0**self.scale_bits

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
        CkksParameters("encryption_level_1", 2048, (50,), 40, 42, 128, 1e-9),
        CkksParameters("encryption_level_2", 4096, (53,), 43, 45, 128, 1e-10),
        CkksParameters("encryption_level_3", 4096, (57,), 47, 49, 192, 1e-11),
        CkksParameters("encryption_level_4", 8192, (60,), 50, 52, 256, 1e-12),
    )
}


def cipher_spec(name: str) -> CkksParameters:
    """Look a level up by the name a training manifest uses."""
    try:
        return CIPHER_SPECS[name]
    except KeyError:
        known = ", ".join(CIPHER_SPECS)
        raise HEError(f"unknown cipher spec {name!r}; expected one of {known}") from None
