"""The emulator's ``crypto_iter_avg`` fusion: right under HElayers, and done without any secret key.

Keys are made as IBM's party makes them (HElayers, 128-bit security, 2048 slots, depth 1); the
aggregator gets only the public context, as in IBM's key distribution.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fldecl.emulator.aggregator.fusion import EncryptedFusion

pyhe = pytest.importorskip("pyhelayers", reason="IBM HElayers is optional (pip install 'fldecl[helayers]')")

DECRYPT_WITH_PUBLIC_CONTEXT = """
import sys
import pyhelayers as pyhe
context = pyhe.DefaultContext()
context.load_from_buffer(open(sys.argv[1], "rb").read())
fused = pyhe.CTileTensor(context)
fused.load_from_buffer(open(sys.argv[2], "rb").read())
print(pyhe.TTEncoder(context).decrypt_decode_double(fused))
"""


def party_keys() -> pyhe.DefaultContext:
    requirement = pyhe.HeConfigRequirement(num_slots=2048, multiplication_depth=1, fractional_part_precision=29,
                                           integer_part_precision=10, security_level=128)
    context = pyhe.DefaultContext()
    context.init(requirement)
    return context


def encrypted_update(context: pyhe.DefaultContext, layers: list[np.ndarray]) -> dict[str, object]:
    encoder = pyhe.TTEncoder(context)
    shape = pyhe.TTShape([1, context.slot_count()])
    return {"ct_weights": [[encoder.encode_encrypt(shape, layer.reshape(1, layer.size)).save_to_buffer(), layer.shape]
                           for layer in layers], "weights_dtype": np.dtype("float32")}


def test_fusion_averages_ciphertexts_that_only_the_parties_can_open(tmp_path: Path) -> None:
    keys = party_keys()
    rng = np.random.default_rng(0)
    updates = [[rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32)] for _ in range(3)]
    fusion = EncryptedFusion(keys.save_to_buffer())
    assert not fusion.context.has_secret_key()

    fused = fusion.average([encrypted_update(keys, layers) for layers in updates])

    encoder = pyhe.TTEncoder(keys)
    for index, (ciphertext, shape) in enumerate(fused["ct_weights"]):
        tensor = pyhe.CTileTensor(keys)
        tensor.load_from_buffer(ciphertext)
        opened = np.asarray(encoder.decrypt_decode_double(tensor)).ravel()[:int(np.prod(shape))].reshape(shape)
        np.testing.assert_allclose(opened, np.mean([layers[index] for layers in updates], axis=0), atol=1e-4)

    (tmp_path / "public_context").write_bytes(keys.save_to_buffer())
    (tmp_path / "fused").write_bytes(fused["ct_weights"][0][0])
    attempt = subprocess.run([sys.executable, "-c", DECRYPT_WITH_PUBLIC_CONTEXT, str(tmp_path / "public_context"),
                              str(tmp_path / "fused")], capture_output=True, text=True, timeout=120)
    assert attempt.returncode != 0  # HElayers aborts: the aggregator's context cannot decrypt what it fused
    assert "no secret key" in attempt.stderr
