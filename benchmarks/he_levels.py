"""Cost and precision of each encryption level on the seed model, against a plain TenSEAL baseline.

One round of add-only aggregation of a 232,220-value update (the seed's MLP 784-256-100-50-10)
from 3 parties: each party encrypts and serializes, the aggregator adds, one party decrypts and
divides by the number of contributors. The baseline is the usual TenSEAL setup (CKKSVector,
N=8192, [60,40,60], scale 2^40, public-key encryption, aggregator multiplies by 1/3).

Run: python benchmarks/he_levels.py
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from fldecl.he import CIPHER_SPECS, SecretKeyring, aggregate, contributors

VALUE_COUNT = 232_220
PARTY_COUNT = 3
FLOAT32_BYTES = 4
BASELINE_NAME = "TenSEAL CKKSVector N=8192 [60,40,60]"

Result = TypeVar("Result")


@dataclass(frozen=True)
class Measurement:
    name: str
    encrypt_seconds: float  # per party
    aggregate_seconds: float
    decrypt_seconds: float
    upload_bytes: int  # per party
    download_bytes: int
    max_error: float


def timed(action: Callable[[], Result]) -> tuple[Result, float]:
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


@contextlib.contextmanager
def native_stdout_silenced() -> Iterator[None]:
    """TenSEAL warns on C++ stdout when a vector spans several ciphertexts; keep the table readable."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def measure_level(name: str, updates: np.ndarray) -> Measurement:
    keyring = SecretKeyring.generate(name)
    blobs, encrypt_seconds = timed(lambda: [keyring.encrypt(update) for update in updates])
    total, aggregate_seconds = timed(lambda: aggregate(keyring.public_context(), blobs))
    mean, decrypt_seconds = timed(lambda: keyring.decrypt(total) / contributors(total))
    return Measurement(
        f"{name}: {describe_level(name)}",
        encrypt_seconds / len(updates),
        aggregate_seconds,
        decrypt_seconds,
        max(len(blob) for blob in blobs),
        len(total),
        float(np.max(np.abs(mean - updates.mean(axis=0)))),
    )


def measure_tenseal_baseline(updates: np.ndarray) -> Measurement:
    import tenseal

    context = tenseal.context(tenseal.SCHEME_TYPE.CKKS, 8192, coeff_mod_bit_sizes=[60, 40, 60])
    context.global_scale = 2.0**40
    public_context = context.copy()
    public_context.make_context_public()
    aggregator_context = tenseal.context_from(public_context.serialize())

    def encrypt_all() -> list[bytes]:
        return [tenseal.ckks_vector(context, update.tolist()).serialize() for update in updates]

    def add_all() -> bytes:
        vectors = [tenseal.ckks_vector_from(aggregator_context, blob) for blob in blobs]
        total = vectors[0]
        for vector in vectors[1:]:
            total += vector
        return (total * (1.0 / len(vectors))).serialize()

    with native_stdout_silenced():
        blobs, encrypt_seconds = timed(encrypt_all)
    averaged, aggregate_seconds = timed(add_all)
    mean, decrypt_seconds = timed(lambda: np.array(tenseal.ckks_vector_from(context, averaged).decrypt()))
    return Measurement(
        BASELINE_NAME,
        encrypt_seconds / len(updates),
        aggregate_seconds,
        decrypt_seconds,
        max(map(len, blobs)),
        len(averaged),
        float(np.max(np.abs(mean - updates.mean(axis=0)))),
    )


def describe_level(name: str) -> str:
    spec = CIPHER_SPECS[name]
    primes = ",".join(map(str, spec.coeff_modulus_bits))
    return f"N={spec.poly_modulus_degree} [{primes}] 2^{spec.scale_bits} {spec.security_bits}-bit"


def print_table(rows: list[Measurement]) -> None:
    plaintext_bytes = VALUE_COUNT * FLOAT32_BYTES
    header = (
        f"{'parameters':<52} {'enc s/party':>11} {'agg s':>7} {'dec s':>7} "
        f"{'upload MB':>9} {'x f32':>6} {'download MB':>11} {'max error':>10}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row.name:<52} {row.encrypt_seconds:>11.3f} {row.aggregate_seconds:>7.3f} "
            f"{row.decrypt_seconds:>7.3f} {row.upload_bytes / 1e6:>9.2f} "
            f"{row.upload_bytes / plaintext_bytes:>6.2f} {row.download_bytes / 1e6:>11.2f} "
            f"{row.max_error:>10.1e}"
        )


def main() -> None:
    weights = np.random.default_rng(0).uniform(-1.0, 1.0, size=(PARTY_COUNT, VALUE_COUNT)).astype(np.float32)
    updates = weights.astype(np.float64)
    plaintext_megabytes = VALUE_COUNT * FLOAT32_BYTES / 1e6
    print(f"{VALUE_COUNT:,} values, {PARTY_COUNT} parties, {plaintext_megabytes:.2f} MB of float32 each\n")
    rows = [measure_level(name, updates) for name in CIPHER_SPECS]
    rows.append(measure_tenseal_baseline(updates))
    print_table(rows)


if __name__ == "__main__":
    main()
