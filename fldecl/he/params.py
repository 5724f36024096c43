"""The encryption levels a training can ask for (``crypto.cipher_spec``) and their CKKS parameters.

Aggregation only adds ciphertexts, so no level needs multiplicative depth: precision comes from
the scale (the number of fractional bits kept), and the data modulus only has to hold the scaled
sum. Every level leaves the same 9 bits of headroom above the scale, so a sum of updates may reach
+-512 in every coordinate before it wraps. A ciphertext costs about ``data_modulus_bits / 8``
bytes per value on upload (two reals per complex slot, the random half sent as a seed), so each
level's extra fractional bits are paid for in bandwidth.

| level | N     | primes     | scale | security | why                                                 |
|-------|-------|------------|-------|----------|-----------------------------------------------------|
| 1     | 2048  | 50         | 2^40  | 128-bit  | smallest ring; float32 weights keep all their bits  |
| 2     | 4096  | 55         | 2^45  | 128-bit  | 55 bits exceed N=2048's 54-bit cap                  |
| 3     | 4096  | 60         | 2^50  | 192-bit  | the largest single prime; within N=4096's 75 bits   |
| 4     | 8192  | 35, 35, 30 | 2^60  | 256-bit  | scale past one prime; within N=8192's 118 bits      |

With more than one prime SEAL reserves the last one for key switching, which addition never
does: it appears in the secret key and counts against the security cap, but not in ciphertexts.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from fldecl.he.errors import HEError

HEADROOM_BITS = 9


@dataclass(frozen=True)
class CkksParameters:
    """One CKKS parameter set; ``library`` names the implementation that runs it."""

    name: str
    poly_modulus_degree: int
    coeff_modulus_bits: tuple[int, ...]
    scale_bits: int
    security_bits: int
    library: str = "seal"

    @property
    def data_modulus_bits(self) -> int:
        """Bits of the modulus ciphertexts live in (all primes but SEAL's key-switching one)."""
        primes = self.coeff_modulus_bits
        return sum(primes[:-1]) if len(primes) > 1 else primes[0]

    @property
    def values_per_ciphertext(self) -> int:
        """N/2 complex slots, each carrying two reals."""
        return self.poly_modulus_degree

    @property
    def max_abs_sum(self) -> float:
        """Largest magnitude an aggregated coordinate may reach before it wraps around."""
        return float(2 ** (self.data_modulus_bits - self.scale_bits - 1))

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
        CkksParameters("encryption_level_1", 2048, (50,), 40, 128),
        CkksParameters("encryption_level_2", 4096, (55,), 45, 128),
        CkksParameters("encryption_level_3", 4096, (60,), 50, 192),
        CkksParameters("encryption_level_4", 8192, (35, 35, 30), 60, 256),
    )
}


def cipher_spec(name: str) -> CkksParameters:
    """Look a level up by the name a training manifest uses."""
    try:
        return CIPHER_SPECS[name]
    except KeyError:
        known = ", ".join(CIPHER_SPECS)
        raise HEError(f"unknown cipher spec {name!r}; expected one of {known}") from None
