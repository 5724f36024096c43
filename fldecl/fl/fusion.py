"""Fusion, in Flower's terms: a :class:`Strategy` fuses updates at the aggregator, an
:class:`UpdateCodec` turns a party's parameters into an update and a fused payload back into
parameters.

``crypto_iter_avg`` works on CKKS ciphertexts: the aggregator only adds them (it holds no secret
key) and each party divides the decrypted sum by the number of contributors. ``iter_avg`` averages
plaintext arrays, for comparison. Plain arrays travel in ``.npy`` format, read with
``allow_pickle=False``.
"""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from fldecl.fl.errors import FusionError
from fldecl.he import HEError, aggregate, contributor_names, contributors
from fldecl.vocabulary import CRYPTO_ITER_AVG

if TYPE_CHECKING:
    from fldecl.he import SecretKeyring



class Strategy(ABC):
    """Aggregator side: how the parties' updates of one round become the global model."""

    @abstractmethod
    def fuse(self, updates: Mapping[str, bytes]) -> bytes:
        """Fuse the round's updates (party name -> update) into the payload sent back to parties."""


class UpdateCodec(ABC):
    """Party side: the counterpart of a :class:`Strategy`."""

    @abstractmethod
    def encode(self, vector: NDArray[Any]) -> bytes:
        """The update a party sends for its flattened parameters."""

    @abstractmethod
    def decode(self, fused: bytes, size: int) -> NDArray[Any]:
        """The averaged flattened parameters in a fused payload (``size`` values expected)."""


class IterAvg(Strategy):
    """Plaintext averaging: the aggregator sees every update and the global model."""

    def fuse(self, updates: Mapping[str, bytes]) -> bytes:
        vectors = {name: _decode_array(name, update) for name, update in updates.items()}
        sizes = {name: vector.size for name, vector in vectors.items()}
        if len(set(sizes.values())) > 1:
            described = ", ".join(f"{name}: {size}" for name, size in sizes.items())
            raise FusionError(f"updates have different sizes ({described})")
        mean = np.mean([vector.astype(np.float64) for vector in vectors.values()], axis=0)
        # Send the model back in the parties' precision: float32 weights need no float64 download.
        return encode_array(mean.astype(np.result_type(*vectors.values())))


class CryptoIterAvg(Strategy):
    """Adds CKKS ciphertexts under the parties' public context; decryption happens at the parties."""

    def __init__(self, public_context: bytes) -> None:
        self.public_context = public_context

    def fuse(self, updates: Mapping[str, bytes]) -> bytes:
        """The sum, listing each party's seed under the name of the party that sent it."""
        try:
            for party, update in updates.items():
                names = contributor_names(update)
                if names != [party]:
                    raise HEError(f"the update from {party} is in the name of {', '.join(names)}")
            return aggregate(self.public_context, list(updates.values()))
        except HEError as error:
            raise FusionError(f"encrypted updates from {', '.join(updates)} cannot be fused: {error}") from error


class PlainCodec(UpdateCodec):
    def encode(self, vector: NDArray[Any]) -> bytes:
        return encode_array(vector)

    def decode(self, fused: bytes, size: int) -> NDArray[Any]:
        return _checked_size(_decode_array("the aggregator", fused), size)


class CryptoCodec(UpdateCodec):
    """Encrypts with the training's keyring in the party's name; the fused payload is a sum, divided here."""

    def __init__(self, keyring: SecretKeyring, party: str) -> None:
        self.keyring = keyring
        self.party = party

    def encode(self, vector: NDArray[Any]) -> bytes:
        return self.keyring.encrypt(np.asarray(vector, dtype=np.float64), self.party)

    def decode(self, fused: bytes, size: int) -> NDArray[Any]:
        count = contributors(fused)
        if count < 1:
            raise FusionError("the fused model has no contributors")
        total = np.asarray(self.keyring.decrypt(fused), dtype=np.float64)
        return _checked_size(total[:size] if total.size > size else total, size) / count


def make_strategy(fusion_type: str, public_context: bytes | None) -> Strategy:
    if fusion_type == CRYPTO_ITER_AVG:
        if public_context is None:
            raise FusionError("crypto_iter_avg needs the parties' public context")
        return CryptoIterAvg(public_context)
    return IterAvg()


def make_codec(fusion_type: str, keyring: SecretKeyring | None, party: str = "") -> UpdateCodec:
    if fusion_type == CRYPTO_ITER_AVG:
        if keyring is None:
            raise FusionError("crypto_iter_avg needs the training's keyring")
        return CryptoCodec(keyring, party)
    return PlainCodec()


def encode_array(array: NDArray[Any]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def _decode_array(sender: str, data: bytes) -> NDArray[Any]:
    try:
        array: NDArray[Any] = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise FusionError(f"update from {sender} is not a numeric array: {error}") from error
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.floating):
        raise FusionError(f"update from {sender} must be a flat float array, got {array.dtype} of shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise FusionError(f"update from {sender} contains NaN or infinite values")
    return array


def _checked_size(vector: NDArray[Any], size: int) -> NDArray[Any]:
    if vector.size != size:
        raise FusionError(f"the fused model has {vector.size} values, this model has {size}")
    return vector
