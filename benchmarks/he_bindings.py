"""How each Python binding of SEAL moves a ciphertext's words, against SEAL's own ``encrypt_symmetric``.

fldecl's backend reads and writes SEAL's polynomials by serialization (seal-python's ``to_string``
and ``load_bytes``, uncompressed). TenSEAL's ``tenseal.sealapi`` binds the same SEAL objects but
gives no buffer over a ciphertext's words and no bulk copy: a word at a time
(``Ciphertext.dyn_array()[i]``; ``Ciphertext.data()`` returns the first word's value, not an
address), or the whole object through a file (``save`` / ``load``, in SEAL's default zstd
compression); nothing writes words back but ``load``. Each way is timed per ciphertext of two
polynomials at each ring degree the levels use, by CPU time in one process, the ways interleaved
and repeated ``--repeats`` times, the best counting; figures are microseconds and multiples of
seal-python's ``encrypt_symmetric``. TenSEAL's ``encrypt_zero_symmetric`` (which seal-python does
not bind) is timed too. Files go to a temporary directory in memory where the system has one.

Run: python benchmarks/he_bindings.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fldecl.he.params import CIPHER_SPECS, CkksParameters

SCRATCH = "/dev/shm" if os.path.isdir("/dev/shm") else None


def cpu_microseconds(step: Callable[[], object], count: int) -> float:
    start = time.process_time()
    for _ in range(count):
        step()
    return (time.process_time() - start) / count * 1e6


def ways(parameters: CkksParameters, scratch: Path) -> dict[str, tuple[Callable[[], object], int]]:
    """Each way of moving a two-polynomial ciphertext, as a function and how many times a measure repeats it."""
    import seal
    import tenseal.sealapi as sealapi

    degree, bits, security = parameters.poly_modulus_degree, list(parameters.coeff_modulus_bits), parameters.security_bits
    scale = 2.0**parameters.scale_bits
    encryption_parameters = seal.EncryptionParameters(seal.scheme_type.ckks)
    encryption_parameters.set_poly_modulus_degree(degree)
    encryption_parameters.set_coeff_modulus(seal.CoeffModulus.Create(degree, bits))
    context = seal.SEALContext(encryption_parameters, True, getattr(seal.sec_level_type, f"tc{security}"))
    encryptor = seal.Encryptor(context, seal.KeyGenerator(context).secret_key())
    zero, ciphertext = seal.CKKSEncoder(context).encode(0.0, scale), seal.Ciphertext()
    encryptor.encrypt_symmetric(zero, ciphertext)
    none = seal.compr_mode_type.none
    serialized = ciphertext.to_string(none)

    tenseal_parameters = sealapi.EncryptionParameters(sealapi.SCHEME_TYPE.CKKS)
    tenseal_parameters.set_poly_modulus_degree(degree)
    tenseal_parameters.set_coeff_modulus(sealapi.CoeffModulus.Create(degree, bits))
    tenseal_context = sealapi.SEALContext(tenseal_parameters, True, getattr(sealapi.SEC_LEVEL_TYPE, f"TC{security}"))
    tenseal_encryptor = sealapi.Encryptor(tenseal_context, sealapi.KeyGenerator(tenseal_context).secret_key())
    tenseal_zero, tenseal_ciphertext = sealapi.Plaintext(), sealapi.Ciphertext(tenseal_context)
    sealapi.CKKSEncoder(tenseal_context).encode(0.0, scale, tenseal_zero)
    tenseal_encryptor.encrypt_symmetric(tenseal_zero, tenseal_ciphertext)
    words = tenseal_ciphertext.dyn_array()
    path = str(scratch / "ciphertext")
    tenseal_ciphertext.save(path)

    def save_and_read() -> bytes:
        tenseal_ciphertext.save(path)
        return Path(path).read_bytes()

    count = max(4, 100 * 2048 // degree)
    return {
        "seal-python encrypt_symmetric": (lambda: encryptor.encrypt_symmetric(zero, ciphertext), count),
        "seal-python to_string, numpy view": (
            lambda: np.frombuffer(ciphertext.to_string(none), dtype="<u8", count=2 * degree, offset=len(serialized) - 16 * degree),
            count,
        ),
        "seal-python load_bytes": (lambda: ciphertext.load_bytes(context, serialized), count),
        "tenseal encrypt_symmetric": (lambda: tenseal_encryptor.encrypt_symmetric(tenseal_zero, tenseal_ciphertext), count),
        "tenseal encrypt_zero_symmetric": (lambda: tenseal_encryptor.encrypt_zero_symmetric(tenseal_ciphertext), count),
        "tenseal dyn_array()[i], each word": (
            lambda: np.fromiter(map(words.__getitem__, range(2 * degree)), dtype=np.uint64, count=2 * degree),
            max(2, count // 20),
        ),
        "tenseal save to a file, read it": (save_and_read, count),
        "tenseal load from a file": (lambda: tenseal_ciphertext.load(tenseal_context, path), count),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    arguments = parser.parse_args()
    degrees: dict[int, CkksParameters] = {}
    for parameters in CIPHER_SPECS.values():
        degrees.setdefault(parameters.poly_modulus_degree, parameters)  # the first level of each degree
    with tempfile.TemporaryDirectory(dir=SCRATCH) as scratch:
        for degree, parameters in sorted(degrees.items()):
            measured = ways(parameters, Path(scratch))
            best = {name: float("inf") for name in measured}
            for _ in range(arguments.repeats):
                for name, (step, count) in measured.items():
                    best[name] = min(best[name], cpu_microseconds(step, count))
            reference = best["seal-python encrypt_symmetric"]
            print(f"N={degree} ({parameters.name}), one ciphertext of two polynomials, CPU:")
            for name, microseconds in best.items():
                print(f"  {name:36s} {microseconds:9.1f} us {microseconds / reference:7.3f}x")


if __name__ == "__main__":
    main()
