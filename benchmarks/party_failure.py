"""How fast a local apply fails when a party's data handler raises: the seconds from `fldecl apply`
to its exit, with the error it printed (the training must fail when the party reports, not at
max_timeout). The example stack, Party_2's handler replaced by one that raises in get_data();
everything but the training is applied first. Usage: python benchmarks/party_failure.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stacks import example_copy

RAISING_HANDLER = '''from ibmfl.data.data_handler import DataHandler


class BrokenHandler(DataHandler):
    def __init__(self, data_config=None):
        super().__init__()
        self.npz_file = data_config["npz_file"]

    def get_data(self):
        raise ValueError(f"cannot read {self.npz_file}: the party's disk is gone")
'''


def fldecl(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fldecl", *arguments], capture_output=True, text=True)


def broken_stack(directory: Path) -> Path:
    stack = example_copy(directory)
    (stack / "handlers" / "broken.py").write_text(RAISING_HANDLER)
    rts = stack / "rts.yaml"
    parties = rts.read_text().split("---\n")
    parties[1] = parties[1].replace("name: MnistPytorchDataHandler", "name: BrokenHandler").replace(
        "path: handlers/mnist_pytorch_data_handler.py", "path: handlers/broken.py")
    rts.write_text("---\n".join(parties))
    made = fldecl("apply", str(stack), "--auto-approve", "--target", "RemoteTrainingSystem/Party_3", "--target", "Model/pytorch")
    if made.returncode != 0:
        raise SystemExit(made.stdout + made.stderr)
    return stack


def failing_apply(stack: Path) -> tuple[float, str]:
    started = time.perf_counter()
    result = fldecl("apply", str(stack), "--auto-approve")
    seconds = time.perf_counter() - started
    failure = next((line for line in reversed(result.stdout.splitlines()) if "training failed:" in line), "")  # this run's
    if result.returncode != 1 or "BrokenHandler.get_data() failed" not in failure:
        raise SystemExit(f"the apply did not fail with the handler's error:\n{result.stdout}\n{result.stderr}")
    return seconds, failure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        stack = broken_stack(Path(root) / "mnist-fhe")
        runs = [failing_apply(stack) for _ in range(arguments.repeats)]  # each run replaces the failed training
    seconds = [run[0] for run in runs]
    print(f"failing apply: median {statistics.median(seconds):.1f} s (runs: {', '.join(f'{s:.1f}' for s in seconds)}); "
          f"max_timeout is 600 s")
    print(runs[-1][1].strip()[:300])


if __name__ == "__main__":
    main()
