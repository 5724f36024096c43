"""IBM's party runtime with HElayers against the emulator's aggregator, beside fldecl's local runtime, per round.

The seed's 784-256-100-50-10 MLP and 3 parties of 200 points (the example stack), 3 rounds of 1
epoch, ``crypto_iter_avg`` at ``encryption_level_1``:

* ``wml``: ``fldecl apply --no-wait`` against an in-process ``EmulatorServer``, then one
  ``fldecl party run`` per party (IBM's runtime in ``FLDECL_PARTY_PYTHON``); seconds per round and
  bytes per party per round are what the emulator's aggregator counted on each websocket.
* ``local``: fldecl's own runtime (SEAL through ``seal-python``) on the same model and data.

Rounds after the first are averaged (the first also pays for warm-up); the key distribution is
reported apart. Run: ``python benchmarks/wml_party_rounds.py``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fl_rounds import EXAMPLE, PARTIES, measure_training, prepare_stack, seed_mlp, training_job

from fldecl.emulator import EmulatorServer
from fldecl.models import build_zip

ROUNDS = 3
ROOT = Path(__file__).resolve().parent.parent


def wml_stack(root: Path) -> Path:
    stack = root / "wml-stack"
    shutil.copytree(EXAMPLE, stack, ignore=shutil.ignore_patterns(".fldecl", "pki", "data"))
    training = stack / "training.yaml"
    document = yaml.safe_load(training.read_text())
    document["spec"]["rounds"] = ROUNDS
    training.write_text(yaml.safe_dump(document, sort_keys=False))
    return stack


def measure_wml(root: Path) -> dict[str, float]:
    party_python = os.environ.get("FLDECL_PARTY_PYTHON") or str(ROOT / ".venv-party" / "bin" / "python")
    stack = wml_stack(root)
    with EmulatorServer(data_dir=root / "emulator") as emulator:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("WML_")}, **emulator.env(),
               "FLDECL_BACKEND": "wml", "FLDECL_PARTY_PYTHON": party_python}
        fldecl = [sys.executable, "-m", "fldecl"]
        applied = subprocess.run([*fldecl, "apply", str(stack), "--auto-approve", "--no-wait"], env=env, capture_output=True, text=True)
        if applied.returncode != 0:
            raise SystemExit(f"apply failed: {applied.stdout}{applied.stderr}")
        parties = [subprocess.Popen([*fldecl, "party", "run", name, str(stack), "--training", "aggregator_he"], env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for name in PARTIES]
        outputs = [party.communicate()[0] for party in parties]
        if any(party.returncode for party in parties):
            raise SystemExit("a party failed:\n" + "\n".join(output[-2000:] for output in outputs))
        (training_id,) = emulator.app.store.ids_in_states("training", ("completed",))
        traffic = emulator.training_traffic(training_id)
    keys = next(phase for phase in traffic if phase.phase == "keys")
    rounds = [phase for phase in traffic if phase.phase != "keys"]
    steady = rounds[1:] or rounds
    return {"keys": keys.seconds, "keys_down": statistics.mean(keys.bytes_sent.values()),
            "first_round": rounds[0].seconds, "round": statistics.mean(phase.seconds for phase in steady),
            "up": statistics.mean(value for phase in steady for value in phase.bytes_received.values()),
            "down": statistics.mean(value for phase in steady for value in phase.bytes_sent.values())}


def measure_local(root: Path) -> dict[str, float]:
    prepare_stack(root)
    model_zip = root / "models" / "seed.zip"
    model_zip.parent.mkdir(exist_ok=True)
    model = seed_mlp()
    model_zip.write_bytes(build_zip(model, root))
    return measure_training(training_job(root, model_zip, model["model_file"], "crypto_iter_avg", "encryption_level_1", ROUNDS))


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="fldecl-bench-") as directory:
        root = Path(directory)
        wml = measure_wml(root / "wml")
        local = measure_local(root / "local")
    print("seed MLP (232,220 values), 3 parties, crypto_iter_avg, rounds 2-3 averaged; bytes per party per round")
    print(f"{'runtime':<44} {'round 1 s':>9} {'round s':>8} {'up MB':>8} {'down MB':>8}")
    print(f"{'IBM party runtime + HElayers, emulator (wml)':<44} {wml['first_round']:>9.2f} {wml['round']:>8.2f} "
          f"{wml['up'] / 1e6:>8.2f} {wml['down'] / 1e6:>8.2f}")
    print(f"{'fldecl local runtime, encryption_level_1':<44} {local['first_round']:>9.2f} {local['round']:>8.2f} "
          f"{local['up'] / 1e6:>8.2f} {local['down'] / 1e6:>8.2f}")
    print(f"wml key distribution: {wml['keys']:.2f} s, {wml['keys_down'] / 1e6:.2f} MB to each party")


if __name__ == "__main__":
    main()
