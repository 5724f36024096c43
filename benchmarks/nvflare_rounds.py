"""The example's training on NVIDIA FLARE and on the local runtime, side by side in one run.

For each backend, a copy of ``manifests/mnist-fhe`` (the seed's MLP, 3 parties of 200 points,
``crypto_iter_avg`` at ``encryption_level_1``, 3 rounds) is applied through the CLI: the PKI, data,
model and parties first, then the Training alone, so that what is timed is the training. Printed
per backend: the time from the Training's create to its first completed round (on NVFlare this
includes submitting the job and NVFlare deploying it to the sites), the mean seconds per round
after the first, and the bytes each party sent and received per round. Every stack is destroyed
at the end, which stops the NVFlare processes it started.

Run: ``python benchmarks/nvflare_rounds.py [--rounds 3]`` (needs the nvflare extra). Prints a plain table.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "manifests" / "mnist-fhe"
TRAINING = "Training/aggregator_he"


def fldecl(stack: Path, backend: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "FLDECL_BACKEND": backend, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "fldecl", *arguments, str(stack)], env=environment, capture_output=True,
                          text=True, check=False)


def timed_training(stack: Path, backend: str) -> tuple[float, list[float]]:
    """Apply the Training, timing each output line: seconds to the first round, and between rounds."""
    environment = {**os.environ, "FLDECL_BACKEND": backend, "NO_COLOR": "1"}
    process = subprocess.Popen([sys.executable, "-m", "fldecl", "apply", str(stack), "--auto-approve"], env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    started, rounds = None, []
    assert process.stdout is not None
    for line in process.stdout:
        if f"{TRAINING}: Creating..." in line:
            started = time.monotonic()
        elif f"{TRAINING}: round" in line and "completed" in line:
            rounds.append(time.monotonic())
    if process.wait() != 0 or started is None or not rounds:
        raise SystemExit(f"the training on {backend} did not complete")
    return rounds[0] - started, [later - earlier for earlier, later in itertools.pairwise(rounds)]


def bytes_per_round(stack: Path, backend: str) -> tuple[float, float]:
    """Mean bytes a party sent and received per round, from ``show --json``."""
    shown = json.loads(fldecl(stack, backend, "show", "--json").stdout)
    training = next(resource for resource in shown["resources"] if resource["address"] == TRAINING)
    parties = [party for entry in training["details"]["rounds"] for party in entry["parties"].values()]
    return statistics.mean(p["bytes_sent"] for p in parties), statistics.mean(p["bytes_received"] for p in parties)


def measure(backend: str, rounds: int, root: Path) -> dict[str, float]:
    stack = root / backend / "mnist-fhe"
    shutil.copytree(EXAMPLE, stack, ignore=shutil.ignore_patterns(".fldecl", "pki", "data"))
    training = stack / "training.yaml"
    text = training.read_text().replace("rounds: 2", f"rounds: {rounds}")
    training.unlink()
    try:
        if fldecl(stack, backend, "apply", "--auto-approve").returncode != 0:
            raise SystemExit(f"the stack did not apply on {backend}")
        training.write_text(text)
        first, between = timed_training(stack, backend)
        sent, received = bytes_per_round(stack, backend)
    finally:
        fldecl(stack, backend, "destroy", "--auto-approve")
    return {"first": first, "per_round": statistics.mean(between) if between else float("nan"), "sent": sent,
            "received": received}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory(prefix="nvflare-rounds-") as scratch:
        results = {backend: measure(backend, rounds, Path(scratch)) for backend in ("local", "nvflare")}
    print(f"crypto_iter_avg, encryption_level_1, seed MLP, 3 parties, {rounds} rounds")
    print(f"{'backend':<10}{'to 1st round s':>16}{'s / round':>12}{'MB sent / party / round':>26}{'MB received':>14}")
    for backend, figures in results.items():
        print(f"{backend:<10}{figures['first']:>16.1f}{figures['per_round']:>12.1f}{figures['sent'] / 1e6:>26.2f}"
              f"{figures['received'] / 1e6:>14.2f}")
    local, nvflare = results["local"], results["nvflare"]
    print(f"nvflare / local: first round {nvflare['first'] / local['first']:.1f}x, "
          f"per round {nvflare['per_round'] / local['per_round']:.1f}x")


if __name__ == "__main__":
    main()
