"""Cost, memory and precision of each encryption level, against SEAL's own encryption in the same run.

One round of add-only aggregation of an update of ``--values`` float32 values (default 232,220:
the seed's MLP 784-256-100-50-10) from 3 parties: each party encrypts its update into a blob
(upload), the aggregator adds the blobs (download: what it sends back to every party), one party
decrypts the sum and divides by the number of contributors. Every step runs in a fresh process
of its own, after a warm-up, so that its peak memory is its own: the peak resident set size above
what the process held before the step (the kernel's high-water mark, reset before the step), plus
the memory its worker processes hold for themselves, as a multiple of the float32 update. There
are ``--repeats`` rounds (3 below a million values, else 1), each with a fresh key; within each
process a step runs 5 times below a million values (else once), each run followed by SEAL's own
work for the same ciphertexts, so that a drift in the machine's speed weighs on both alike, and
the best of each counts. A step compared with SEAL shows the process (a party's, in a round) whose
wall ratio to SEAL is the median; the add shows its fastest round; peaks and the error are the
worst of all.

The steps are measured in a party's steady state: from ``PARALLEL_VALUES`` values on, a party
shares its work with worker processes it started in its first round and keeps (they take about a
second to start), so the warm-up of such updates encrypts and decrypts that many values, which
starts them. Wall
time is what a party waits; CPU time adds up the party's and its workers' work during the step.
Both are printed, and so are their ratios to SEAL's: on a machine with a free second core the wall
ratio is what a party sees, and the CPU ratio is what its cores spend.

In the same processes, in turns with the step, SEAL itself, through the same bindings, on one core
(its bindings hold Python's interpreter lock): ``encrypt_symmetric`` of as many ciphertexts as the
party's update takes (what fldecl's encryption is compared with), and SEAL's loading of as many
seeded ciphertexts as random halves the party's decryption expands, one per contributor per
ciphertext: SEAL's own expansion of them (Blake2xb), what fldecl's decryption (which expands them
by AES-256-CTR instead) is compared with. The add is counted in values added per second
(3 parties x the update). Sizes are per party and per round, as multiples of the float32 update.

Below a million values a plain TenSEAL setup is measured too (CKKSVector, N=8192, [60,40,60],
scale 2^40, public-key encryption, aggregator multiplies by 1/3), and a second table sets each
level's measured error against its guaranteed worst case (half a wire step per party plus noise
and rounding, whatever the number of parties) and its documented bound, which is at least 5x
above the worst case.

Run: python benchmarks/he_levels.py [--values 11700000] [--levels 1,2] [--repeats 1]
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import hashlib
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import psutil

from fldecl.he import CIPHER_SPECS, CkksParameters, SecretKeyring, aggregate, contributors, wire, workers
from fldecl.he.backend import load_backend
from fldecl.he.seal_backend import PARALLEL_VALUES, SealBackend

SEED_MODEL_VALUES = 232_220
PARTY_COUNT = 3
PARTY_NAMES = [f"Party_{index + 1}" for index in range(PARTY_COUNT)]
SEAL_PRNG_BLAKE2XB = 1  # SEAL's prng_type code of its own seed expansion
SEAL_SEED_BYTES = 64
FLOAT32_BYTES = 4
TENSEAL_LIMIT = 1_000_000
BASELINE_NAME = "TenSEAL CKKSVector N=8192 [60,40,60]"
BOUND_MARGIN = 5

Result = TypeVar("Result")


@dataclass(frozen=True)
class Step:
    seconds: float
    cpu_seconds: float  # the step's processes, its workers included
    peak_bytes: int  # above what the process held before the step, plus what its workers held
    seal_seconds: float  # SEAL's own work for the same ciphertexts, same process, in turns with the step
    seal_cpu_seconds: float
    output_bytes: int

    @property
    def ratio(self) -> float:
        """Wall time over SEAL's."""
        return self.seconds / self.seal_seconds


@dataclass(frozen=True)
class Measurement:
    name: str
    ciphertexts: int
    encrypt: Step
    add: Step
    decrypt: Step
    max_error: float
    bound: float


def timed(action: Callable[[], Result]) -> tuple[Result, float]:
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


def _status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def _cpu_seconds() -> float:
    """CPU time of this process (the clock SEAL's figures use), of its children that have exited, and of its running workers."""
    exited = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + exited.ru_utime + exited.ru_stime + _over_workers(lambda worker: sum(worker.cpu_times()[:2]))


def _over_workers(measure: Callable[[psutil.Process], float]) -> float:
    """``measure`` of each running worker, summed; a worker that is gone counts 0."""
    total = 0.0
    for pid in workers.pids():
        with contextlib.suppress(psutil.NoSuchProcess):
            total += measure(psutil.Process(pid))
    return total


def timing_runs(value_count: int) -> int:
    """Times a step (and SEAL's own work) is timed in one process, the best counting: 5 below a million values, where a step is short."""
    return 5 if value_count < 1_000_000 else 1


def measured(action: Callable[[], Result], runs: int, seal_work: Callable[[], object] | None = None) -> tuple[Result, Step]:
    """Run a step ``runs`` times: its best wall and CPU time, and its peak memory above what the process held before the first run.

    ``seal_work``, SEAL's own work for the same ciphertexts, runs after each run of the step, and
    its best times count likewise. Linux resets the high-water mark (VmHWM, which getrusage's
    ru_maxrss reports) on writing 5 to /proc/self/clear_refs; where it cannot, the process's
    lifetime peak stands in (an upper bound). The party's worker processes count by all the
    memory they hold for themselves (their shared libraries are the party's too), and by the CPU
    time they spent during the step; they are idle while SEAL works, and stopped at the end.
    """
    before = _status_bytes("VmRSS")
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    cpu = _cpu_seconds()
    result, seconds = timed(action)
    times = [(seconds, _cpu_seconds() - cpu)]
    peak = max(0, _status_bytes("VmHWM") - before) + int(_over_workers(lambda worker: worker.memory_full_info().uss))
    seal_times = []
    for run in range(runs):
        if run:
            times.append(_times(action))
        if seal_work is not None:
            seal_times.append(_times(seal_work))
    workers.shutdown()
    return result, Step(*_best(times), peak, *_best(seal_times or [(0.0, 0.0)]), len(result) if isinstance(result, bytes) else 0)


def _times(action: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``action``."""
    start, cpu = time.perf_counter(), _cpu_seconds()
    action()
    return time.perf_counter() - start, _cpu_seconds() - cpu


def _best(times: list[tuple[float, float]]) -> tuple[float, float]:
    return min(wall for wall, _ in times), min(cpu for _, cpu in times)


def warm_up(keyring: SecretKeyring, value_count: int) -> None:
    """A party's earlier rounds: SEAL's memory pools, numpy's caches, and the workers if an update this large uses them.

    The C heap then gives its free memory back to the system, so that the step's peak counts
    what the step allocates, not what it reuses from the warm-up.
    """
    keyring.decrypt(keyring.encrypt(np.zeros(PARALLEL_VALUES if value_count >= PARALLEL_VALUES else 10), "warm-up"))
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def party_update(index: int, value_count: int) -> np.ndarray:
    return np.random.default_rng(index).uniform(-1.0, 1.0, size=value_count).astype(np.float32)


def _seal_backend(keyring: SecretKeyring) -> tuple[SealBackend, Any]:
    backend = load_backend(keyring.parameters)
    assert isinstance(backend, SealBackend)
    secret_key = wire.unpack(keyring.to_bytes(), wire.Kind.SECRET_KEYRING)[-1]
    return backend, backend.context.from_secret_str(secret_key)


def seal_encryption(keyring: SecretKeyring, ciphertexts: int) -> Callable[[], None]:
    """SEAL's ``encrypt_symmetric`` of ``ciphertexts`` encoded plaintexts, through the same bindings."""
    import seal

    backend, secret_key = _seal_backend(keyring)
    encryptor = seal.Encryptor(backend.context, secret_key)
    plaintext = seal.CKKSEncoder(backend.context).encode(0.5, backend.scale)
    ciphertext = seal.Ciphertext()

    def encrypt_all() -> None:
        for _ in range(ciphertexts):
            encryptor.encrypt_symmetric(plaintext, ciphertext)

    return encrypt_all


def seeded_random_half(backend: SealBackend, seed: bytes) -> bytes:
    """(0, a) as SEAL serializes a seeded ciphertext: c0, then, where c1 would be, the 64-byte seed SEAL expands ``a`` from (Blake2xb)."""
    degree = backend.degree
    zeros = backend._header(8 + 8 * degree) + (degree).to_bytes(8, "little") + bytes(8 * degree)
    seed_info = backend._header(1 + len(seed)) + bytes([SEAL_PRNG_BLAKE2XB]) + seed
    members = backend._metadata(2, True) + zeros + seed_info
    return backend._header(len(members)) + members


def seal_expansion(keyring: SecretKeyring, ciphertexts: int, seeds: int) -> Callable[[], None]:
    """SEAL's loading of ``ciphertexts`` x ``seeds`` seeded ciphertexts: SEAL's own expansion of them."""
    import seal

    backend, _ = _seal_backend(keyring)
    ciphertext = seal.Ciphertext()
    prefix = seeded_random_half(backend, bytes(SEAL_SEED_BYTES))[:-SEAL_SEED_BYTES]

    def expand_all() -> None:
        for index in range(ciphertexts):
            for seed in range(seeds):
                key = bytes([seed]) * 32
                ciphertext_seed = hashlib.blake2b(index.to_bytes(8, "little"), digest_size=SEAL_SEED_BYTES, key=key).digest()
                ciphertext.load_bytes(backend.context, prefix + ciphertext_seed)

    return expand_all


def encrypt_step(keyring_bytes: bytes, index: int, value_count: int, blob_path: str) -> Step:
    keyring = SecretKeyring.from_bytes(keyring_bytes)
    update = party_update(index, value_count)
    warm_up(keyring, value_count)
    ciphertexts = -(-value_count // keyring.parameters.values_per_ciphertext)
    seal_work = seal_encryption(keyring, ciphertexts)
    blob, step = measured(lambda: keyring.encrypt(update, PARTY_NAMES[index]), timing_runs(value_count), seal_work)
    Path(blob_path).write_bytes(blob)
    return step


def add_step(public_context: bytes, blob_paths: list[str], total_path: str, value_count: int) -> Step:
    blobs = [Path(path).read_bytes() for path in blob_paths]
    aggregate(public_context, blobs[:1])  # warm-up: SEAL's context, the thread pool
    total, step = measured(lambda: aggregate(public_context, blobs), timing_runs(value_count))
    Path(total_path).write_bytes(total)
    return step


def mean_of(keyring: SecretKeyring, total: bytes) -> np.ndarray:
    """The decrypted sum divided by the number of contributors, in place: the division allocates nothing."""
    values = keyring.decrypt(total)
    values /= contributors(total)
    return values


def decrypt_step(keyring_bytes: bytes, total_path: str, value_count: int) -> tuple[Step, float]:
    keyring = SecretKeyring.from_bytes(keyring_bytes)
    total = Path(total_path).read_bytes()
    warm_up(keyring, value_count)
    ciphertexts = -(-value_count // keyring.parameters.values_per_ciphertext)
    seal_work = seal_expansion(keyring, ciphertexts, PARTY_COUNT)
    mean, step = measured(lambda: mean_of(keyring, total), timing_runs(value_count), seal_work)
    expected = np.zeros(value_count)
    for index in range(PARTY_COUNT):
        expected += party_update(index, value_count)
    error = float(np.max(np.abs(mean - expected / PARTY_COUNT)))
    return step, error


def in_fresh_process(function: Callable[..., Result], *arguments: Any) -> Result:
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *arguments).result()


def measure_level(name: str, value_count: int, directory: Path) -> Measurement:
    keyring = SecretKeyring.generate(name)
    keyring_bytes = keyring.to_bytes()
    blob_paths = [str(directory / f"{party}.blob") for party in PARTY_NAMES]
    encrypts = [in_fresh_process(encrypt_step, keyring_bytes, index, value_count, path) for index, path in enumerate(blob_paths)]
    total_path = str(directory / "total.blob")
    added = in_fresh_process(add_step, keyring.public_context(), blob_paths, total_path, value_count)
    decrypted, error = in_fresh_process(decrypt_step, keyring_bytes, total_path, value_count)
    spec = CIPHER_SPECS[name]
    encrypt = median_ratio(encrypts)
    ciphertexts = -(-value_count // spec.values_per_ciphertext)
    return Measurement(f"{name}: {describe_level(spec)}", ciphertexts, encrypt, added, decrypted, error, spec.max_error)


def median_ratio(steps: list[Step]) -> Step:
    """The step whose wall ratio to SEAL is the median (the upper one of an even count), with the largest peak and size of all."""
    return _with_largest(sorted(steps, key=lambda step: step.ratio)[len(steps) // 2], steps)


def fastest(steps: list[Step]) -> Step:
    """The fastest step, with the largest peak and size of all."""
    return _with_largest(min(steps, key=lambda step: step.seconds), steps)


def _with_largest(chosen: Step, steps: list[Step]) -> Step:
    """``chosen``'s times, with the largest peak and output of ``steps``."""
    return replace(chosen, peak_bytes=max(step.peak_bytes for step in steps), output_bytes=max(step.output_bytes for step in steps))


def combined(rounds: list[Measurement]) -> Measurement:
    """Rounds of one level as one: the median ratio of the steps compared with SEAL, the fastest add, the worst error."""
    return Measurement(
        rounds[0].name, rounds[0].ciphertexts, median_ratio([run.encrypt for run in rounds]), fastest([run.add for run in rounds]),
        median_ratio([run.decrypt for run in rounds]), max(run.max_error for run in rounds), rounds[0].bound,
    )


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


def measure_tenseal_baseline(updates: np.ndarray) -> tuple[float, float, float, int, int, float]:
    """Encrypt s per party, add s, decrypt s, upload and download bytes, max error of TenSEAL's usual setup."""
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
    averaged, add_seconds = timed(add_all)
    mean, decrypt_seconds = timed(lambda: np.array(tenseal.ckks_vector_from(context, averaged).decrypt()))
    error = float(np.max(np.abs(mean - updates.mean(axis=0))))
    return encrypt_seconds / len(updates), add_seconds, decrypt_seconds, max(map(len, blobs)), len(averaged), error


def single_party_error(name: str, update: np.ndarray) -> float:
    """Max error of one party's update decrypted alone: the case the worst-case bound is tightest for."""
    keyring = SecretKeyring.generate(name)
    return float(np.max(np.abs(keyring.decrypt(keyring.encrypt(update, PARTY_NAMES[0])) - update)))


def describe_level(spec: CkksParameters) -> str:
    primes = ",".join(map(str, spec.coeff_modulus_bits))
    return f"N={spec.poly_modulus_degree} [{primes}] 2^{spec.scale_bits} {spec.wire_bits}-bit wire {spec.security_bits}-bit"


def print_speed(rows: list[Measurement], value_count: int) -> None:
    plaintext_bytes = value_count * FLOAT32_BYTES
    header = (
        f"{'level':<18} {'cts':>5} | {'enc s':>6} {'M/s':>4} {'SEAL s':>6} {'x SEAL':>6} {'cpu x':>5} {'peak':>5} | "
        f"{'add s':>5} {'M/s':>4} {'cpu':>4} {'peak':>4} | {'dec s':>6} {'M/s':>4} {'exp. s':>6} {'x SEAL':>6} {'cpu x':>5} {'peak':>5}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        encrypt, add, decrypt = row.encrypt, row.add, row.decrypt
        print(
            f"{row.name.split(':')[0]:<18} {row.ciphertexts:>5} | "
            f"{encrypt.seconds:>6.2f} {value_count / encrypt.seconds / 1e6:>4.1f} {encrypt.seal_seconds:>6.2f} "
            f"{encrypt.seconds / encrypt.seal_seconds:>6.2f} {encrypt.cpu_seconds / encrypt.seal_cpu_seconds:>5.2f} "
            f"{encrypt.peak_bytes / plaintext_bytes:>5.2f} | "
            f"{add.seconds:>5.2f} {PARTY_COUNT * value_count / add.seconds / 1e6:>4.0f} "
            f"{PARTY_COUNT * value_count / add.cpu_seconds / 1e6:>4.0f} {add.peak_bytes / plaintext_bytes:>4.1f} | "
            f"{decrypt.seconds:>6.2f} {value_count / decrypt.seconds / 1e6:>4.1f} {decrypt.seal_seconds:>6.2f} "
            f"{decrypt.seconds / decrypt.seal_seconds:>6.2f} {decrypt.cpu_seconds / decrypt.seal_cpu_seconds:>5.2f} "
            f"{decrypt.peak_bytes / plaintext_bytes:>5.2f}"
        )
    print(
        "\nenc s: one party's encryption (M/s: values per second); SEAL s: SEAL's encrypt_symmetric of as many ciphertexts, same "
        "process; x SEAL: the ratio of wall times, cpu x: of CPU times (workers included); add s: the aggregator's sum of "
        f"{PARTY_COUNT} blobs, M/s counting every value added, per second of wall and of CPU time (cpu); dec s: the sum "
        f"decrypted and divided in place; exp. s: SEAL's expansion "
        f"of its {PARTY_COUNT} x cts seeded ciphertexts; peak: extra memory at the step's peak, x the float32 update\n"
    )


def print_sizes(rows: list[Measurement], value_count: int, tenseal_row: tuple[float, float, float, int, int, float] | None) -> None:
    plaintext_bytes = value_count * FLOAT32_BYTES
    header = (
        f"{'parameters':<62} {'upload MB':>9} {'x f32':>6} {'download MB':>11} {'x f32':>6} {'round trip':>10} "
        f"{'max error':>9} {'bound':>7}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        upload, download = row.encrypt.output_bytes, row.add.output_bytes
        print(
            f"{row.name:<62} {upload / 1e6:>9.2f} {upload / plaintext_bytes:>6.2f} {download / 1e6:>11.2f} "
            f"{download / plaintext_bytes:>6.2f} {(upload + download) / (2 * plaintext_bytes):>9.2f}x "
            f"{row.max_error:>9.1e} {row.bound:>7.0e}"
        )
    if tenseal_row is not None:
        encrypt_seconds, add_seconds, decrypt_seconds, upload, download, error = tenseal_row
        print(
            f"{BASELINE_NAME:<62} {upload / 1e6:>9.2f} {upload / plaintext_bytes:>6.2f} {download / 1e6:>11.2f} "
            f"{download / plaintext_bytes:>6.2f} {(upload + download) / (2 * plaintext_bytes):>9.2f}x {error:>9.1e} {'-':>7}"
        )
        print(f"  (TenSEAL: encrypt {encrypt_seconds:.3f} s per party, add {add_seconds:.3f} s, decrypt {decrypt_seconds:.3f} s)")
    print("\nupload: per party; download: the fused model, to each party; round trip: (upload + download) / (2 x float32)\n")


def print_error_budget(rows: list[Measurement], update: np.ndarray) -> None:
    header = (
        f"{'level':<20} {'wire bits':>9} {'scale':>6} {'worst case':>10} {'3 parties':>9} {'1 party':>9} "
        f"{'bound':>7} {'bound / worst case':>18}"
    )
    print(f"1 party: {update.size:,} values encrypted and decrypted alone")
    print(header)
    print("-" * len(header))
    for row, (name, spec) in zip(rows, CIPHER_SPECS.items(), strict=False):
        alone = single_party_error(name, update)
        margin = spec.max_error / spec.worst_case_error
        verdict = f"{margin:.1f}x" + ("" if margin >= BOUND_MARGIN else f" (under {BOUND_MARGIN}x)")
        print(
            f"{name:<20} {spec.wire_bits:>9} {'2^' + str(spec.scale_bits):>6} {spec.worst_case_error:>10.1e} "
            f"{row.max_error:>9.1e} {alone:>9.1e} {spec.max_error:>7.0e} {verdict:>18}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=SEED_MODEL_VALUES, help="values per update (default: the seed's MLP)")
    parser.add_argument("--levels", default="1,2,3,4", help="comma-separated encryption levels (default: all)")
    parser.add_argument("--repeats", type=int, help="rounds per level, each with a fresh key (default: 3 below a million values, else 1)")
    arguments = parser.parse_args()
    value_count = arguments.values
    repeats = arguments.repeats or (3 if value_count < 1_000_000 else 1)
    names = [f"encryption_level_{level.strip()}" for level in arguments.levels.split(",")]
    plaintext_megabytes = value_count * FLOAT32_BYTES / 1e6
    print(f"{value_count:,} values, {PARTY_COUNT} parties, {plaintext_megabytes:.2f} MB of float32 each way, {os.cpu_count()} CPUs\n")
    with tempfile.TemporaryDirectory(prefix="fldecl-he-bench-") as directory:
        rows = [combined([measure_level(name, value_count, Path(directory)) for _ in range(repeats)]) for name in names]
    print_speed(rows, value_count)
    tenseal_row = None
    if value_count < TENSEAL_LIMIT:
        updates = np.stack([party_update(index, value_count) for index in range(PARTY_COUNT)])
        tenseal_row = measure_tenseal_baseline(updates.astype(np.float64))
    print_sizes(rows, value_count, tenseal_row)
    if names == list(CIPHER_SPECS):
        print_error_budget(rows, party_update(0, min(value_count, SEED_MODEL_VALUES)).astype(np.float64))


if __name__ == "__main__":
    main()
