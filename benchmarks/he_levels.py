"""Cost and precision of each encryption level on the seed model, against a plain TenSEAL baseline.

One round of add-only aggregation of a 232,220-value update (the seed's MLP 784-256-100-50-10)
from 3 parties: each party encrypts and serializes (upload), the aggregator adds (download: what
it sends back to every party), one party decrypts and divides by the number of contributors; times
are the best of three rounds, each with a fresh key, and the error the worst of them. Sizes
are per party and per round, as multiples of the float32 plaintext (0.93 MB each way); the round
trip compares upload plus download with the plaintext's two legs. The baseline is the usual TenSEAL
setup (CKKSVector, N=8192, [60,40,60], scale 2^40, public-key encryption, aggregator multiplies by
1/3).

A second table sets each level's measured error against its guaranteed worst case (half a wire step
per party plus noise and rounding, whatever the number of parties) and its documented bound, which
is at least 5x above the worst case.

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

from fldecl.he import CIPHER_SPECS, CkksParameters, SecretKeyring, aggregate, contributors

VALUE_COUNT = 232_220
PARTY_COUNT = 3
PARTY_NAMES = [f"Party_{index + 1}" for index in range(PARTY_COUNT)]
FLOAT32_BYTES = 4
BASELINE_NAME = "TenSEAL CKKSVector N=8192 [60,40,60]"
BOUND_MARGIN = 5
REPEATS = 3

Result = TypeVar("Result")


@dataclass(frozen=True)
class Measurement:
    name: str
    encrypt_seconds: float  # per party
    aggregate_seconds: float
    decrypt_seconds: float
    upload_bytes: int  # per party
    download_bytes: int  # to each party
    max_error: float
    bound: float | None


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


def best_of(runs: list[Measurement]) -> Measurement:
    """The fastest time of each step and the largest sizes and error over a few runs."""
    return Measurement(
        runs[0].name,
        min(run.encrypt_seconds for run in runs),
        min(run.aggregate_seconds for run in runs),
        min(run.decrypt_seconds for run in runs),
        max(run.upload_bytes for run in runs),
        max(run.download_bytes for run in runs),
        max(run.max_error for run in runs),
        runs[0].bound,
    )


def measure_level(name: str, updates: np.ndarray) -> Measurement:
    keyring = SecretKeyring.generate(name)
    blobs, encrypt_seconds = timed(lambda: [keyring.encrypt(update, party) for party, update in zip(PARTY_NAMES, updates, strict=True)])
    total, aggregate_seconds = timed(lambda: aggregate(keyring.public_context(), blobs))
    mean, decrypt_seconds = timed(lambda: keyring.decrypt(total) / contributors(total))
    return Measurement(
        f"{name}: {describe_level(CIPHER_SPECS[name])}",
        encrypt_seconds / len(updates),
        aggregate_seconds,
        decrypt_seconds,
        max(len(blob) for blob in blobs),
        len(total),
        float(np.max(np.abs(mean - updates.mean(axis=0)))),
        CIPHER_SPECS[name].max_error,
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
        None,
    )


def single_party_error(name: str, update: np.ndarray) -> float:
    """Max error of one party's update decrypted alone: the case the worst-case bound is tightest for."""
    keyring = SecretKeyring.generate(name)
    return float(np.max(np.abs(keyring.decrypt(keyring.encrypt(update, PARTY_NAMES[0])) - update)))


def describe_level(spec: CkksParameters) -> str:
    primes = ",".join(map(str, spec.coeff_modulus_bits))
    return f"N={spec.poly_modulus_degree} [{primes}] 2^{spec.scale_bits} {spec.wire_bits}-bit wire {spec.security_bits}-bit"


def print_table(rows: list[Measurement]) -> None:
    plaintext_bytes = VALUE_COUNT * FLOAT32_BYTES
    header = (
        f"{'parameters':<62} {'enc s/party':>11} {'agg s':>6} {'dec s':>6} {'upload MB':>9} {'x f32':>6} "
        f"{'download MB':>11} {'x f32':>6} {'round trip':>10} {'max error':>9} {'bound':>7}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        bound = f"{row.bound:>7.0e}" if row.bound is not None else f"{'-':>7}"
        print(
            f"{row.name:<62} {row.encrypt_seconds:>11.3f} {row.aggregate_seconds:>6.3f} {row.decrypt_seconds:>6.3f} "
            f"{row.upload_bytes / 1e6:>9.2f} {row.upload_bytes / plaintext_bytes:>6.2f} "
            f"{row.download_bytes / 1e6:>11.2f} {row.download_bytes / plaintext_bytes:>6.2f} "
            f"{(row.upload_bytes + row.download_bytes) / (2 * plaintext_bytes):>9.2f}x {row.max_error:>9.1e} {bound}"
        )


def print_error_budget(rows: list[Measurement], updates: np.ndarray) -> None:
    header = (
        f"{'level':<20} {'wire bits':>9} {'scale':>6} {'worst case':>10} {'3 parties':>9} {'1 party':>9} "
        f"{'bound':>7} {'bound / worst case':>18}"
    )
    print(header)
    print("-" * len(header))
    for row, (name, spec) in zip(rows, CIPHER_SPECS.items(), strict=False):
        alone = max(single_party_error(name, updates[0]) for _ in range(REPEATS))
        margin = spec.max_error / spec.worst_case_error
        verdict = f"{margin:.1f}x" + ("" if margin >= BOUND_MARGIN else f" (under {BOUND_MARGIN}x)")
        print(
            f"{name:<20} {spec.wire_bits:>9} {'2^' + str(spec.scale_bits):>6} {spec.worst_case_error:>10.1e} "
            f"{row.max_error:>9.1e} {alone:>9.1e} {spec.max_error:>7.0e} {verdict:>18}"
        )


def main() -> None:
    weights = np.random.default_rng(0).uniform(-1.0, 1.0, size=(PARTY_COUNT, VALUE_COUNT)).astype(np.float32)
    updates = weights.astype(np.float64)
    plaintext_megabytes = VALUE_COUNT * FLOAT32_BYTES / 1e6
    print(f"{VALUE_COUNT:,} values, {PARTY_COUNT} parties, {plaintext_megabytes:.2f} MB of float32 each way\n")
    rows = [best_of([measure_level(name, updates) for _ in range(REPEATS)]) for name in CIPHER_SPECS]
    rows.append(best_of([measure_tenseal_baseline(updates) for _ in range(REPEATS)]))
    print_table(rows)
    print(
        "\nupload: per party; download: the fused model, to each party; round trip: (upload + download) / "
        "(2 x float32); max error: of the mean, against the level's bound\n"
    )
    print_error_budget(rows, updates)


if __name__ == "__main__":
    main()
