"""Seconds per round and bytes per party for fldecl's local federated runtime, and HE's share of it.

For the example stack's model (manifests/mnist-fhe: the seed's 784-256-100-50-10 MLP), with
3 parties of 200 points each: one training per fusion setting (``iter_avg`` and
``crypto_iter_avg`` at every encryption level). Bytes are what each party sent (up: its update)
and received (down: the fused model) per round, as multiples of the float32 model; the round trip
compares both legs with those of the ``iter_avg`` training of the same model. Then the HE library
alone encrypts the same vector for 3 parties, adds the ciphertexts and decrypts the sum; the ratio
compares what a round costs over plaintext with what HE itself needs.

Run: ``python benchmarks/fl_rounds.py [--rounds 3]``. Prints a plain table.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import yaml

from fldecl.data import split
from fldecl.fl import PartySettings, TrainingJob, run_training
from fldecl.he import CIPHER_SPECS, SecretKeyring, aggregate, contributors
from fldecl.models import build_zip, get_parameters, load_model
from fldecl.pki import Subject, create_ca, issue_certificate

EXAMPLE = Path(__file__).resolve().parent.parent / "manifests" / "mnist-fhe"
PARTIES = ("Party_1", "Party_2", "Party_3")
HE_REPEATS = 3


def example_documents(kind: str) -> list[dict]:
    documents = []
    for path in sorted(EXAMPLE.glob("*.yaml")):
        documents += [document for document in yaml.safe_load_all(path.read_text()) if document and document.get("kind") == kind]
    return documents


def seed_mlp() -> dict:
    """The example stack's Model spec: the seed's MLP (``tests/models/test_model_artifacts.py`` checks its layout)."""
    (model,) = example_documents("Model")
    return model["spec"]


def prepare_stack(root: Path) -> None:
    """The example's data split and handler, and a fresh CA with aggregator and party certificates."""
    (root / "pki").mkdir(parents=True)
    create_ca(Subject(common_name="benchmark issuer", organization="fldecl"), 2, root / "pki/ca.key", root / "pki/ca.pem")
    for name in ("aggregator", *PARTIES):
        issue_certificate(
            root / "pki/ca.key", root / "pki/ca.pem", Subject(common_name=name, organization="fldecl"),
            ["localhost", "127.0.0.1"], 2, root / f"pki/{name}.key", root / f"pki/{name}.pem",
        )
    (data_split,) = example_documents("DataSplit")
    split(data_split["spec"], root)
    shutil.copytree(EXAMPLE / "handlers", root / "handlers")


def local_parties(root: Path) -> list[PartySettings]:
    settings = []
    for rts in example_documents("RemoteTrainingSystem"):
        handler = rts["spec"]["party"]["data_handler"]
        name = rts["metadata"]["name"]
        settings.append(
            PartySettings(
                name, str(root / f"pki/{name}.pem"), str(root / f"pki/{name}.key"), str(root / "pki/ca.pem"),
                handler["path"], handler["name"], handler.get("info", {}), str(root),
            )
        )
    return settings


def training_job(root: Path, model_zip: Path, model_file: str, fusion_type: str, cipher_spec: str | None, rounds: int) -> TrainingJob:
    return TrainingJob(
        training_id=uuid.uuid4().hex, name="benchmark", model_zip=str(model_zip), model_file=model_file,
        model_type="pytorch-onnx_1.12", trusted=True, fusion_type=fusion_type, cipher_spec=cipher_spec,
        epochs=1, rounds=rounds, metrics="accuracy", optimizer=None, loss=None, batch_size=32, seed=0,
        quorum=1.0, max_timeout=600,
        parties=[{"name": name, "required": True, "cert_file": str(root / f"pki/{name}.pem")} for name in PARTIES],
        ca_cert_file=str(root / "pki/ca.pem"), aggregator_cert_file=str(root / "pki/aggregator.pem"),
        aggregator_key_file=str(root / "pki/aggregator.key"),
        work_dir=str(root / "runs" / f"{model_zip.stem}-{fusion_type}-{cipher_spec}"), local_parties=local_parties(root),
    )


def measure_training(job: TrainingJob) -> dict[str, float]:
    """Seconds per round after the first (which also pays for warm-up) and mean bytes per party and round."""
    result = run_training(job)
    if result.state != "completed":
        raise SystemExit(f"benchmark training {job.fusion_type}/{job.cipher_spec} {result.state}: {result.reason}")
    steady = result.rounds[1:] or result.rounds
    entries = [entry for record in steady for entry in record["parties"].values()]
    return {
        "first_round": result.rounds[0]["seconds"],
        "round": statistics.mean(record["seconds"] for record in steady),
        "up": statistics.mean(entry["bytes_sent"] for entry in entries),
        "down": statistics.mean(entry["bytes_received"] for entry in entries),
        "accuracy": result.final_metrics["accuracy"],
    }


def measure_he_alone(vector: np.ndarray, cipher_spec: str) -> float:
    """Best of a few runs: 3 parties encrypt, the sum is formed, one party decrypts and averages."""
    keyring = SecretKeyring.generate(cipher_spec)
    public_context = keyring.public_context()
    timings = []
    for _ in range(HE_REPEATS):
        started = time.perf_counter()
        blobs = [keyring.encrypt(vector, party) for party in PARTIES]
        fused = aggregate(public_context, blobs)
        keyring.decrypt(fused) / contributors(fused)
        timings.append(time.perf_counter() - started)
    return min(timings)


def benchmark_model(root: Path, label: str, spec: dict, rounds: int) -> list[str]:
    model_zip = root / "models" / f"{label}.zip"
    model_zip.parent.mkdir(exist_ok=True)
    model_zip.write_bytes(build_zip(spec, root))
    model_file = spec["model_file"]
    vector = np.concatenate([array.ravel() for array in get_parameters(load_model(model_zip, model_file, trusted=True))])
    plain = measure_training(training_job(root, model_zip, model_file, "iter_avg", None, rounds))
    lines = [row(label, vector.size, "iter_avg", plain, plain, None, None)]
    for cipher_spec in CIPHER_SPECS:
        crypto = measure_training(training_job(root, model_zip, model_file, "crypto_iter_avg", cipher_spec, rounds))
        he_seconds = measure_he_alone(vector, cipher_spec)
        lines.append(row(label, vector.size, cipher_spec, crypto, plain, he_seconds, (crypto["round"] - plain["round"]) / he_seconds))
    return lines


def row(
    label: str, size: int, setting: str, measured: dict[str, float], plain: dict[str, float], he_seconds: float | None, ratio: float | None
) -> str:
    """One table line; bytes as multiples of the float32 model, the round trip against iter_avg's, accuracy against iter_avg's."""
    optional = f"{he_seconds:>9.3f} {ratio:>9.2f}" if he_seconds is not None else f"{'-':>9} {'-':>9}"
    float32_bytes = 4 * size
    round_trip = (measured["up"] + measured["down"]) / (plain["up"] + plain["down"])
    accuracy_gap = 100 * (measured["accuracy"] - plain["accuracy"])
    return (
        f"{label:<20} {size:>8} {setting:<19} {measured['first_round']:>8.2f} {measured['round']:>8.2f} "
        f"{measured['up'] / 1e6:>6.2f} {measured['down'] / 1e6:>8.2f} {measured['up'] / float32_bytes:>6.2f}x "
        f"{measured['down'] / float32_bytes:>8.2f}x {round_trip:>9.2f}x {optional} {measured['accuracy']:>7.4f} {accuracy_gap:>+8.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per training (default 3; round 1 is reported apart)")
    rounds = parser.parse_args().rounds
    models = {"mnist-fhe (seed MLP)": seed_mlp()}
    header = (
        f"{'model':<20} {'values':>8} {'fusion':<19} {'round 1':>8} {'round s':>8} {'up MB':>6} {'down MB':>8} "
        f"{'up/f32':>7} {'down/f32':>9} {'rt/plain':>10} {'HE alone':>9} {'overhead':>9} {'acc':>7} {'acc pp':>8}"
    )
    with tempfile.TemporaryDirectory(prefix="fldecl-bench-") as directory:
        root = Path(directory)
        started = time.monotonic()
        prepare_stack(root)
        lines = [line for label, spec in models.items() for line in benchmark_model(root, label, spec, rounds)]
    print(header)
    print("-" * len(header))
    print("\n".join(lines))
    print(
        f"\n3 parties, 200 points each, 1 epoch per round; 'round s' is the mean of rounds 2..{rounds}, bytes are per party "
        "and round (up = party to aggregator, down = aggregator to party), '/f32' against the float32 model, 'rt/plain' = "
        "(up + down) against iter_avg's. 'HE alone': 3 encryptions + add + decrypt of the same vector in one "
        "process; 'overhead' = (round s - iter_avg round s) / HE alone, the framework's cost per unit of HE work. "
        "'acc pp': final accuracy minus iter_avg's, in percentage points. "
        f"Total {time.monotonic() - started:.0f} s."
    )


if __name__ == "__main__":
    main()
