"""Where a party's encryption spends its time, per ciphertext, against SEAL's own ``encrypt_symmetric``.

A party's mask of one ciphertext takes SEAL's ``encrypt_symmetric`` of zero (SEAL's noise) and its
serialization into two rows (c0' and a'), the expansion of fldecl's random half from its seed
(AES-256-CTR and rejection sampling in numpy, a batch at a time), the subtraction of that from a'
in numpy, and SEAL's product of a batch of differences with the secret key, the addition of the
c0' and the inverse NTT (up to 16 polynomials per call, with their framing and serialization);
numpy then encodes the values, rounds and packs. Each step is timed alone over ``--ciphertexts``
ciphertexts in one process, by CPU time, in a party's chunks of a large update, the steps
interleaved and repeated ``--repeats`` times, the median counting; then whole chunks
(``_encrypt_chunk``) and ``SecretKeyring.encrypt`` of the same values, on one core. Figures are
microseconds per ciphertext and multiples of ``encrypt_symmetric``.

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
from fldecl.he.seal_backend import SealBackend, SealCipher, _subtract_mod


def steps(name: str, ciphertexts: int) -> dict[str, Callable[[], object]]:
    """Each step of the encryption of ``ciphertexts`` ciphertexts, as a function that runs it."""
    import seal

    keyring = SecretKeyring.generate(name)
    backend = load_backend(keyring.parameters)
    assert isinstance(backend, SealBackend)
    cipher = backend.cipher(wire.unpack(keyring.to_bytes(), wire.Kind.SECRET_KEYRING)[-1])
    assert isinstance(cipher, SealCipher)
    degree, modulus, width = backend.degree, backend.modulus, backend.parameters.wire_bits
    rows = backend.rows_per_chunk(1 << 40, width / 8)
    chunks = [(start, min(ciphertexts, start + rows)) for start in range(0, ciphertexts, rows)]
    fresh = seal.Ciphertext()
    cipher._encryptor.encrypt_symmetric(cipher._zero, fresh)
    none = seal.compr_mode_type.none
    random_halves = [np.ascontiguousarray(backend.random_halves(bytes(32), start, stop)) for start, stop in chunks]
    halves = np.random.default_rng(2).integers(0, modulus, size=(2, ciphertexts, degree), dtype=np.uint64)
    values = np.random.default_rng(0).uniform(-1, 1, ciphertexts * degree).astype(np.float32)
    masks = np.random.default_rng(1).integers(0, modulus, size=(ciphertexts, degree), dtype=np.uint64)

    def encrypt_symmetric() -> None:
        for _ in range(ciphertexts):
            cipher._encryptor.encrypt_symmetric(cipher._zero, fresh)

    def serialization() -> None:
        for start, stop in chunks:
            first_halves = np.empty((stop - start, degree), dtype=np.uint64)
            second_halves = np.empty_like(first_halves)
            for first_half, second_half in zip(first_halves, second_halves, strict=True):
                data = fresh.to_string(none)
                first_half[:] = np.frombuffer(data, dtype="<u8", count=degree, offset=len(data) - 16 * degree)
                second_half[:] = np.frombuffer(data, dtype="<u8", count=degree, offset=len(data) - 8 * degree)

    def expansion() -> None:
        for start, stop in chunks:
            backend.random_halves(bytes(32), start, stop)

    def subtraction() -> None:
        for (start, stop), random_half in zip(chunks, random_halves, strict=True):
            _subtract_mod(halves[1, start:stop], random_half, modulus)

    def products() -> None:
        for start, stop in chunks:
            backend.products_with_secret(halves[1, start:stop].copy(), cipher._secret, halves[0, start:stop])

    def numpy_rounding() -> None:
        for start, stop in chunks:
            first_halves = masks[start:stop].view(np.int64).copy()
            first_halves.reshape(-1)[:] += cipher._encode(values[start * degree : stop * degree])
            packing.pack_rows(packing.compress(first_halves, modulus, width), width)

    def whole_chunks() -> None:
        for start, stop in chunks:
            cipher._encrypt_chunk(values[start * degree : stop * degree], bytes(32), start, stop)

    return {
        "encrypt_symmetric": encrypt_symmetric,
        "serialization": serialization,
        "AES expansion": expansion,
        "subtraction": subtraction,
        "product with s, add, inverse NTT": products,
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
