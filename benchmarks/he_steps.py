"""Where a party's encryption spends its time, per ciphertext, against SEAL's own ``encrypt_symmetric``.

A party's mask of one ciphertext takes SEAL's ``encrypt_symmetric`` of zero (SEAL's noise), SEAL's
expansion of fldecl's seeded random half, the subtraction, the decryption of the difference and its
serialization, and the inverse NTT (16 polynomials per call, with their framing); numpy then
encodes the values, rounds and packs. Each step is timed alone over ``--ciphertexts`` ciphertexts
in one process, by CPU time, the steps interleaved and repeated ``--repeats`` times, the median
counting; then a whole chunk (``_encrypt_chunk``) and ``SecretKeyring.encrypt`` of the same values,
on one core. Figures are microseconds per ciphertext and multiples of ``encrypt_symmetric``.

Run: python benchmarks/he_steps.py [--levels 1,2,4] [--ciphertexts 256] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from fldecl.he import SecretKeyring, packing, wire
from fldecl.he.backend import load_backend
from fldecl.he.params import cipher_spec
from fldecl.he.seal_backend import SealBackend, SealCipher, ciphertext_seed


def steps(name: str, ciphertexts: int) -> dict[str, Callable[[], object]]:
    """Each step of the encryption of ``ciphertexts`` ciphertexts, as a function that runs it."""
    import seal

    keyring = SecretKeyring.generate(name)
    backend = load_backend(keyring.parameters)
    assert isinstance(backend, SealBackend)
    cipher = backend.cipher(wire.unpack(keyring.to_bytes(), wire.Kind.SECRET_KEYRING)[-1])
    assert isinstance(cipher, SealCipher)
    degree, modulus, width = backend.degree, backend.modulus, backend.parameters.wire_bits
    rows = backend.rows_per_chunk(1 << 40)
    fresh, half, plaintext = seal.Ciphertext(), seal.Ciphertext(), seal.Plaintext()
    cipher._encryptor.encrypt_symmetric(cipher._zero, fresh)
    seeds = [ciphertext_seed(bytes(32), index) for index in range(ciphertexts)]
    none = seal.compr_mode_type.none
    serialized = [b""] * ciphertexts
    values = np.random.default_rng(0).uniform(-1, 1, ciphertexts * degree).astype(np.float32)
    masks = np.random.default_rng(1).integers(0, modulus, size=(ciphertexts, degree), dtype=np.uint64)

    def encrypt_symmetric() -> None:
        for _ in range(ciphertexts):
            cipher._encryptor.encrypt_symmetric(cipher._zero, fresh)

    def expansion() -> None:
        for seed in seeds:
            backend.random_half(seed, half)

    def subtraction() -> None:
        for _ in range(ciphertexts):
            backend.evaluator.sub_inplace(fresh, half)

    def decryption() -> None:
        for index in range(ciphertexts):
            cipher._decryptor.decrypt(fresh, plaintext)
            serialized[index] = plaintext.to_bytes(none)

    def inverse_ntt() -> None:
        for start in range(0, ciphertexts, rows):
            backend.to_coefficients(serialized[start : start + rows])

    def numpy_rounding() -> None:
        for start in range(0, ciphertexts, rows):
            messages = np.zeros(rows * degree)
            messages[:] = values[start * degree : (start + rows) * degree]
            first_halves = masks[start : start + rows].view(np.int64).copy()
            first_halves += cipher._encode(messages).reshape(-1, degree)
            packing.pack_rows(packing.compress(first_halves, modulus, width), width)

    def whole_chunks() -> None:
        for start in range(0, ciphertexts, rows):
            cipher._encrypt_chunk(values[start * degree : (start + rows) * degree], bytes(32), start, start + rows)

    return {
        "encrypt_symmetric": encrypt_symmetric,
        "expansion": expansion,
        "subtraction": subtraction,
        "decryption": decryption,
        "inverse NTT": inverse_ntt,
        "numpy": numpy_rounding,
        "whole chunks": whole_chunks,
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
