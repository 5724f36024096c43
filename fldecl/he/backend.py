"""The small interface a CKKS library implements to serve fldecl's add-only aggregation.

A ciphertext (c0, c1) crosses it as its first half c0 alone, rounded to the level's wire width, as
opaque bytes: c1 is uniformly random and expanded from a seed, so a party sends one seed for all
its ciphertexts, the aggregator adds first halves and keeps every contributor's seed, and a party
rebuilds the sum of the random halves from those seeds. Blobs, keyrings and contexts keep one
format whatever library produced them; only :func:`load_backend` knows which libraries exist. A
second library (e.g. OpenFHE or IBM's pyhelayers) is one more entry in ``_BACKENDS`` and a ``library`` value
in the parameter table.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterator, Sequence
from typing import Any, Protocol, cast

import numpy as np
from numpy.typing import NDArray

from fldecl.he.errors import HEError
from fldecl.he.packing import Packed
from fldecl.he.params import CkksParameters

# Modules are imported on first use so that importing fldecl.he never loads a crypto library.
_BACKENDS = {"seal": ("fldecl.he.seal_backend", "SealBackend")}


class CkksCipher(Protocol):
    """A backend holding a secret key: what a party uses."""

    def encrypt(self, values: NDArray[np.floating[Any]], seed: bytes) -> Iterator[Packed]:
        """Pack a float vector into as few ciphertexts as the slots allow (zero padded); yield their first halves.

        First halves come in order, a few at a time, as rows of ``first_half_size`` bytes, so that
        a party never holds more than a few of them besides the blob it writes; each batch is valid
        until the next is asked for (the rows are written into one buffer). Ciphertext ``k``'s
        random half expands from ``seed`` and ``k``, so each ciphertext has its own; ``seed`` must
        be fresh for every call and never shared with another party.
        """
        ...

    def decrypt(self, first_halves: Packed, seeds: Sequence[bytes]) -> Iterator[NDArray[np.float64]]:
        """Every value the ciphertexts carry, padding included, as float64, in order and a few ciphertexts at a time.

        ``first_halves`` are rows of sums of first halves made under ``seeds``, one seed per contributor.
        """
        ...


class CkksBackend(Protocol):
    """A library bound to one parameter set, with no secret: what the aggregator uses."""

    @property
    def parameters_id(self) -> bytes:
        """The library's identifier of the parameter set, stamped on every blob."""
        ...

    @property
    def first_half_size(self) -> int:
        """Bytes of one first half on the wire."""
        ...

    def public_bytes(self) -> bytes:
        """The library's serialization of the encryption parameters, and nothing else."""
        ...

    def generate_secret_key(self) -> bytes: ...

    def cipher(self, secret_key: bytes) -> CkksCipher: ...

    def add(self, operands: Sequence[Packed], out: Packed) -> None:
        """Sum rows of first halves ``operands[i][k]`` over ``i`` for every ``k``, as wide as each, into ``out``'s rows."""
        ...


@functools.lru_cache(maxsize=8)
def load_backend(parameters: CkksParameters, public_bytes: bytes | None = None) -> CkksBackend:
    """The backend for a parameter set, from the table or from a received context.

    A backend holds no secret and is built once per process for the same parameters: building one
    makes the library's context anew (its primes checked, its transform tables computed), about a
    millisecond that an aggregator would otherwise spend again on every sum, a fifth of a small
    model's add.
    """
    try:
        module_name, class_name = _BACKENDS[parameters.library]
    except KeyError:
        raise HEError(f"unsupported HE library {parameters.library!r}") from None
    backend_class = getattr(importlib.import_module(module_name), class_name)
    return cast(CkksBackend, backend_class(parameters, public_bytes))
