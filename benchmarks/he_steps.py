"""Where a party's encryption spends its time, per ciphertext, against SEAL's own ``encrypt_symmetric``.

A party's mask of one ciphertext takes SEAL's ``encrypt_symmetric`` of zero (SEAL's noise), the
ciphertext (0, a) loaded from its serialization and subtracted, SEAL's decryption of the
difference and SEAL's inverse NTT of that one polynomial (through a batch encoder, with the
serializations in between); the random halves ``a`` expand from the seed by AES-256-CTR and
rejection sampling in numpy, a chunk at a time, and numba adds the values, rounds and packs.
Each step is timed alone over ``--ciphertexts`` ciphertexts in one process, by CPU time, in a
party's chunks of a large update, the steps interleaved and repeated ``--repeats`` times, the
median counting; then the cipher's whole encryption (``SealCipher.encrypt``) and ``SecretKeyring.encrypt`` of the same
values, on one core. Figures are microseconds per ciphertext and multiples of ``encrypt_symmetric``.

Run: python benchmarks/he_steps.py [--levels 1,2,4] [--ciphertexts 256] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from fldecl.he import SecretKeyring, codec, wire
from fldecl.he.backend import load_backend
from fldecl.he.params import cipher_spec
from fldecl.he.seal_backend import _ENCRYPTION_CHUNK_BYTES, SealBackend, SealCipher


def steps(name: str, ciphertexts: int) -> dict[str, Callable[[], object]]:
    """Each step of the encryption of ``ciphertexts`` ciphertexts, as a function that runs it."""
    import seal

    keyring = SecretKeyring.generate(name)
    backend = load_backend(keyring.parameters)
    assert isinstance(backend, SealBackend)
    cipher = backend.cipher(wire.unpack(keyring.to_bytes(), wire.Kind.SECRET_KEYRING)[-1])
    assert isinstance(cipher, SealCipher)
    degree, modulus, width = backend.degree, backend.modulus, backend.parameters.wire_bits
    rows = backend.rows_per_chunk(1 << 40, width / 8, _ENCRYPTION_CHUNK_BYTES)
    chunks = [(start, min(ciphertexts, start + rows)) for start in range(0, ciphertexts, rows)]
    fresh, loaded, plaintext = seal.Ciphertext(), seal.Ciphertext(), seal.Plaintext()
    random_halves = np.random.default_rng(2).integers(0, modulus, size=(ciphertexts, degree), dtype=np.uint64)
    zero_row = bytes(8 * degree)
    values = np.random.default_rng(0).uniform(-1, 1, ciphertexts * degree).astype(np.float32)
    masks = np.random.default_rng(1).integers(0, modulus, size=(ciphertexts, degree), dtype=np.uint64).view(np.int64)
    cipher._encryptor.encrypt_symmetric(cipher._zero, fresh)
    cipher._decryptor.decrypt(fresh, plaintext)

    def encrypt_symmetric() -> None:
        for _ in range(ciphertexts):
            cipher._encryptor.encrypt_symmetric(cipher._zero, fresh)

    def subtraction() -> None:
        for random_half in random_halves:
            backend.evaluator.sub_inplace(fresh, backend.load(loaded, [zero_row, random_half.data]))

    def decryption() -> None:
        for _ in range(ciphertexts):
            cipher._decryptor.decrypt(fresh, plaintext)

    def inverse_transform() -> None:
        for _ in range(ciphertexts):
            cipher._inverse_transform(plaintext)

    def expansion() -> None:
        random_halves = backend.random_halves()
        for start, stop in chunks:
            random_halves(bytes(32), start, stop)

    def rounding() -> None:
        packed = np.empty((rows, degree * width // 64), dtype=np.uint64)
        for start, stop in chunks:
            codec.encode(masks[start:stop], values[start * degree : stop * degree], backend.scale, modulus, width, packed[: stop - start])

    def whole_encryption() -> None:
        for _ in cipher.encrypt(values, bytes(32)):
            pass

    return {
        "encrypt_symmetric": encrypt_symmetric,
        "load (0, a) and subtract": subtraction,
        "decrypt": decryption,
        "inverse NTT": inverse_transform,
        "AES expansion": expansion,
        "numba rounding": rounding,
        "SealCipher.encrypt": whole_encryption,
        "keyring.encrypt": lambda: keyring.encrypt(values, "Party_1"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,2,4", help="comma-separated encryption levels (default: 1,2,4)")
    parser.add_argument("--ciphertexts", type=int, default=256, help="ciphertexts per step at level 1, fewer at larger rings")
    parser.add_argument("--repeats", type=int, default=5)
    arguments = parser.parse_args()
    for level in arguments.levels.split(","):
        name = f"encryption_level_{level.strip()}"
        count = max(16, arguments.ciphertexts * 2048 // cipher_spec(name).poly_modulus_degree)
        runs = steps(name, count)
        times: dict[str, list[float]] = {step: [] for step in runs}
        for _ in range(arguments.repeats):
            for step, run in runs.items():
                start = time.process_time()
                run()
                times[step].append(time.process_time() - start)
        medians = {step: statistics.median(seconds) for step, seconds in times.items()}
        reference = medians["encrypt_symmetric"]
        cells = [f"{step} {seconds / count * 1e6:.0f} us ({seconds / reference:.2f}x)" for step, seconds in medians.items()]
        print(f"{name} (N={cipher_spec(name).poly_modulus_degree}, {count} ciphertexts): " + ", ".join(cells))

if __name__ == "__main__":
    main()
