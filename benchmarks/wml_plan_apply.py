"""Plan and apply on the wml backend against the emulator at 50 ms latency: time and HTTP requests.

For each size (that many remote training systems, plus one model and one training that uses them
all) and each parallelism, a fresh emulator answers every request 50 ms late. Reported: the first
plan (over REST, its token request included), the apply (trainings are not followed, as with
--no-wait; IBM's client signs in here, with its own five requests), a second, no-op plan, and the
requests each made, as the emulator counted them. Runs in-process after a warm-up; a CLI apply
also pays the client's import, measured once and printed first (plans do without the client).
Usage: python benchmarks/wml_plan_apply.py [--sizes 10,100,500] [--parallelism 1,10] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from stacks import write_remote_training_systems

T = TypeVar("T")

STACK = "apiVersion: fldecl/v1\nkind: Stack\nmetadata: {name: bench}\nspec: {backend: wml}\n"
MODEL = """apiVersion: fldecl/v1
kind: Model
metadata: {name: model}
spec:
  type: pytorch-onnx_1.12
  software_spec: {name: runtime-22.2-py3.10}
  model_file: pytorch_sequence.pt
  source:
    architecture:
      framework: pytorch
      layers: [{type: Flatten}, {type: Linear, in_features: 784, out_features: 10}, {type: LogSoftmax, dim: 1}]
"""
TRAINING = """apiVersion: fldecl/v1
kind: Training
metadata: {{name: aggregator}}
spec:
  model: model
  fusion_type: crypto_iter_avg
  rounds: 2
  remote_training:
    quorum: 0.5
    remote_training_systems: [{parties}]
  software_spec: {{name: runtime-22.2-py3.10}}
  hardware_spec: {{name: S}}
"""


class Silent:
    """Apply listener and progress reporter that keep the table readable."""

    def step_started(self, step: tuple[str, str]) -> None:
        pass

    def step_retrying(self, step: tuple[str, str], message: str, attempt: int, delay: float) -> None:
        pass

    def step_finished(self, step: tuple[str, str], outcome: str, message: str, seconds: float) -> None:
        if outcome != "ok":
            raise SystemExit(f"{step[0]} {step[1]} {outcome}: {message}")

    def progress(self, address: str, message: str) -> None:
        pass


@dataclass
class Row:
    size: int
    parallelism: int
    plan: tuple[float, int]
    apply: tuple[float, int]
    noop: tuple[float, int]


def write_stack(directory: Path, size: int) -> Path:
    directory.mkdir(parents=True)
    (directory / "stack.yaml").write_text(STACK)
    (directory / "model.yaml").write_text(MODEL)
    parties = ", ".join(f"{{name: Party_{i}}}" for i in range(size))
    (directory / "training.yaml").write_text(TRAINING.format(parties=parties))
    write_remote_training_systems(directory, size)
    return directory


def timed(emulator: Any, action: Callable[[], T]) -> tuple[T, float, int]:
    emulator.reset_stats()
    started = time.perf_counter()
    value = action()
    return value, time.perf_counter() - started, emulator.stats()["total"]


def measure(size: int, parallelism: int, latency_ms: int, root: Path) -> Row:
    from fldecl.cli.session import reconciler
    from fldecl.core.contract import ApplyOptions
    from fldecl.emulator import EmulatorServer
    from fldecl.kinds import load_stack

    name = f"{size}-{parallelism}"
    with EmulatorServer(data_dir=root / f"emulator-{name}", simulate_trainings=True, training_seconds=None,
                        latency_ms=latency_ms) as emulator:
        os.environ.update(emulator.env())
        stack = load_stack(write_stack(root / f"stack-{name}", size), backend_override="wml")
        rec = reconciler(stack, wait=False, reporter=Silent())
        plan, plan_seconds, plan_requests = timed(emulator, rec.plan)
        _, apply_seconds, apply_requests = timed(emulator, lambda: rec.apply(plan, Silent(), ApplyOptions(parallelism=parallelism)))
        noop, noop_seconds, noop_requests = timed(emulator, rec.plan)
        if noop.has_changes:
            raise SystemExit(f"the second plan for {size} RTS is not empty: {noop.summary}")
    return Row(size, parallelism, (plan_seconds, plan_requests), (apply_seconds, apply_requests),
               (noop_seconds, noop_requests))


def client_import_seconds() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import ibm_watson_machine_learning"], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100,500")
    parser.add_argument("--parallelism", default="1,10")
    parser.add_argument("--latency-ms", type=int, default=50)
    arguments = parser.parse_args()
    sizes = [int(size) for size in arguments.sizes.split(",")]
    parallelisms = [int(value) for value in arguments.parallelism.split(",")]
    print(f"importing ibm_watson_machine_learning (paid by every CLI apply, not by plans): {client_import_seconds():.1f} s")
    print(f"emulator latency {arguments.latency_ms} ms per request; times in s, requests as the emulator counted them")
    print(f"{'RTS':>5} {'par':>4} | {'1st plan s':>10} {'req':>5} | {'apply s':>8} {'req':>5} | {'no-op plan s':>12} {'req':>5}")
    with tempfile.TemporaryDirectory() as root:
        measure(1, 1, arguments.latency_ms, Path(root))  # warm-up: the client and torch are imported once
        for size in sizes:
            for parallelism in parallelisms:
                row = measure(size, parallelism, arguments.latency_ms, Path(root))
                print(f"{row.size:>5} {row.parallelism:>4} | {row.plan[0]:>10.2f} {row.plan[1]:>5} | "
                      f"{row.apply[0]:>8.2f} {row.apply[1]:>5} | {row.noop[0]:>12.2f} {row.noop[1]:>5}", flush=True)


if __name__ == "__main__":
    main()
