"""``iter_avg`` and ``crypto_iter_avg``: the simple average of the parties' updates.

Plaintext updates are averaged layer by layer, keeping each layer's dtype. Encrypted updates are
HElayers ciphertexts; the aggregator loads them into the public context it was given (which
holds no secret key, so it cannot decrypt), multiplies each by 1/n and adds them, as IBM's
``CipherFHE.fuse_weights_scalar`` does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fldecl.errors import RuntimeFailure

ModelUpdate = dict[str, Any]


class FusionError(RuntimeFailure):
    """Updates that cannot be averaged together (different layers, shapes or kinds)."""


def average_plain(updates: list[ModelUpdate]) -> ModelUpdate:
    layers = _layers(updates, "weights", "plaintext")
    fused = []
    for index in range(len(layers[0])):
        arrays = [np.asarray(weights[index]) for weights in layers]
        if len({array.shape for array in arrays}) != 1:
            raise FusionError(f"layer {index} has different shapes across parties")
        fused.append(np.mean(arrays, axis=0).astype(arrays[0].dtype if arrays[0].dtype.kind == "f" else np.float64))
    return {"weights": fused}


def _layers(updates: list[ModelUpdate], key: str, what: str) -> list[list[Any]]:
    """Each party's list of layers under ``key``: as many from every party, or the round fails."""
    layers = [update.get(key) for update in updates]
    lists = [layer for layer in layers if isinstance(layer, list)]
    if len(lists) != len(layers) or len({len(layer) for layer in lists}) != 1:
        raise FusionError(f"the parties sent {what} updates of different layers")
    return lists


class EncryptedFusion:
    """Averages HElayers ciphertexts under a public context; refuses a context that holds a secret key."""

    def __init__(self, public_context: bytes) -> None:
        try:
            import pyhelayers  # type: ignore[import-untyped]  # lazy: proprietary and optional, needed only for crypto_iter_avg; no stubs
        except ImportError as error:
            raise FusionError("crypto_iter_avg needs IBM HElayers in the emulator: pip install 'fldecl[helayers]' "
                              "(pyhelayers, non-commercial licence)") from error
        self._helayers = pyhelayers
        self.context = pyhelayers.DefaultContext()
        self.context.load_from_buffer(public_context)
        if self.context.has_secret_key():
            raise FusionError("the public context a party sent holds a secret key; the aggregator refuses it")

    def average(self, updates: list[ModelUpdate]) -> ModelUpdate:
        layers = _layers(updates, "ct_weights", "encrypted")
        share = 1.0 / len(updates)
        fused = []
        for index in range(len(layers[0])):
            total = self._load(layers[0][index][0])
            total.multiply_scalar(share)
            for ciphertexts in layers[1:]:
                term = self._load(ciphertexts[index][0])
                term.multiply_scalar(share)
                total.add(term)
            fused.append([total.save_to_buffer(), layers[0][index][1]])
        return {"ct_weights": fused, "weights_dtype": updates[0].get("weights_dtype")}

    def _load(self, ciphertext: bytes) -> Any:
        tensor = self._helayers.CTileTensor(self.context)
        tensor.load_from_buffer(ciphertext)
        return tensor
