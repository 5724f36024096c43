"""No-op plans of the stacks users run, through the CLI, against `terraform plan` in the same run.

Measured, each as the median of --repeats CLI runs after an apply (the local figures and terraform's taken
in turns, so that they share the machine's moods):
* the example stack on the local backend, and the example grown to 50 parties (50 keys);
* the example on the wml backend against the emulator, at 0 ms and at --latency-ms per request,
  with the requests a plan makes (the emulator counts them), then in a project that also holds
  --others RTSs of other stacks, where plan, apply and show must succeed at 25% injected faults;
* 10 / 100 / 1000 / 5000 remote training systems on the local backend;
* `terraform plan` over the same numbers of `terraform_data` resources (skipped, and said so,
  when terraform is not installed), so each fldecl figure comes with its ratio.
Usage: python benchmarks/plan_speed.py [--sizes 10,100,1000,5000] [--repeats 5] [--parties 50] [--skip-wml]
"""

from __future__ import annotations

import argparse
import compileall
import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stacks import consortium, example_copy, write_remote_training_systems

RTS_STACK = "apiVersion: fldecl/v1\nkind: Stack\nmetadata: {{name: bench-{size}}}\nspec: {{backend: local}}\n"
TERRAFORM_RESOURCE = 'resource "terraform_data" "r{i}" {{\n  input = "party {i}"\n}}\n'


def run(command: list[str], cwd: Path | None = None, env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)) -> float:
    """Seconds one command takes; a failure stops the benchmark with its output."""
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode not in ok:
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return elapsed


def fldecl(*arguments: str, env: dict[str, str] | None = None) -> float:
    """One ``fldecl`` command as users run it: the environment's entry point (``python -m fldecl`` without one)."""
    entry_point = Path(sys.executable).with_name("fldecl")
    command = [str(entry_point)] if entry_point.exists() else [sys.executable, "-m", "fldecl"]
    return run([*command, *arguments], env=env)


def noop_plan(stack: Path, repeats: int, env: dict[str, str] | None = None) -> float:
    """The median no-op plan; ``--detailed-exitcode`` makes a plan that is not empty fail the benchmark."""
    return statistics.median(fldecl("plan", str(stack), "--detailed-exitcode", env=env) for _ in range(repeats))


def round_robin(commands: dict[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    """The median of each command, run in turn ``repeats`` times, so that a machine that speeds up or slows
    down during the run moves every figure alike and the ratios stay fair."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, command in commands.items():
            samples[name].append(command())
    return {name: statistics.median(values) for name, values in samples.items()}


def terraform_stacks(sizes: list[int], root: Path) -> dict[str, Callable[[], float]]:
    """``terraform plan`` over ``size`` applied ``terraform_data`` resources, per size (none without terraform)."""
    terraform = shutil.which("terraform")
    if terraform is None:
        print("terraform is not installed: ratios to `terraform plan` are left out")
        return {}
    quiet = {"TF_IN_AUTOMATION": "1", "TF_CLI_CONFIG_FILE": os.devnull}
    template = terraform_state(terraform, root / "terraform-template", quiet)
    commands = {}
    for size in sizes:
        directory = root / f"terraform-{size}"
        directory.mkdir()
        (directory / "main.tf").write_text("".join(TERRAFORM_RESOURCE.format(i=i) for i in range(size)))
        run([terraform, "init", "-input=false"], directory, quiet)
        (directory / "terraform.tfstate").write_text(json.dumps(applied_state(template, size)))
        commands[f"terraform {size}"] = functools.partial(run, [terraform, "plan", "-input=false", "-detailed-exitcode"], directory, quiet)
    return commands


def terraform_state(terraform: str, directory: Path, quiet: dict[str, str]) -> dict[str, Any]:
    """The state ``terraform apply`` leaves for one resource: the template of the larger states."""
    directory.mkdir()
    (directory / "main.tf").write_text(TERRAFORM_RESOURCE.format(i=0))
    run([terraform, "init", "-input=false"], directory, quiet)
    run([terraform, "apply", "-auto-approve", "-input=false"], directory, quiet)
    state: dict[str, Any] = json.loads((directory / "terraform.tfstate").read_text())
    return state


def applied_state(template: dict[str, Any], size: int) -> dict[str, Any]:
    """The state ``terraform apply`` would leave for ``size`` resources (it takes minutes at 5000, being
    quadratic there); ``plan --detailed-exitcode`` fails the benchmark if terraform sees it otherwise."""
    resource = template["resources"][0]
    resources = []
    for i in range(size):
        copy = json.loads(json.dumps(resource))
        copy["name"] = f"r{i}"
        attributes = copy["instances"][0]["attributes"]
        attributes["id"] = str(uuid.UUID(int=i))
        attributes["input"]["value"] = attributes["output"]["value"] = f"party {i}"
        resources.append(copy)
    return {**template, "serial": 1, "resources": resources}


def applied(stack: Path, *options: str) -> Callable[[], float]:
    """``stack`` applied; returns its no-op plan (``--detailed-exitcode``: a plan that is not empty fails the benchmark)."""
    fldecl("apply", str(stack), "--auto-approve", *options)
    return functools.partial(fldecl, "plan", str(stack), "--detailed-exitcode")


def ratio(mine: float, theirs: float | None) -> str:
    return f"{mine / theirs:.2f}x" if theirs else "-"


def local_stacks(sizes: list[int], parties: int, repeats: int, root: Path) -> None:
    """The local rows, each with terraform's figure from the same rounds."""
    commands = terraform_stacks(sorted(set(sizes) | {1000}), root)
    commands["example"] = applied(example_copy(root / "example"))
    grown = consortium(root / f"consortium-{parties}", parties)
    commands["consortium"] = applied(grown, "--no-wait")
    for size in sizes:
        stack = root / f"rts-{size}"
        stack.mkdir()
        (stack / "stack.yaml").write_text(RTS_STACK.format(size=size))
        write_remote_training_systems(stack, size)
        commands[f"rts {size}"] = applied(stack)
    figures = round_robin(commands, repeats)
    fldecl("destroy", str(grown), "--auto-approve")
    example, reference = figures["example"], figures.get("terraform 1000")
    print(f"example stack, local: no-op plan {example:.3f} s ({ratio(example, reference)} of terraform plan over 1000)")
    print(f"example grown to {parties} parties ({parties} keys), local: no-op plan {figures['consortium']:.3f} s "
          f"({ratio(figures['consortium'], figures['example'])} of the example)")
    print(f"{'RTS':>6} {'fldecl plan s':>14} {'terraform plan s':>17} {'ratio':>7}")
    for size in sizes:
        mine, theirs = figures[f"rts {size}"], figures.get(f"terraform {size}")
        print(f"{size:>6} {mine:>14.3f} {theirs if theirs else float('nan'):>17.3f} {ratio(mine, theirs):>7}", flush=True)


def wml_example(latency_ms: int, repeats: int, others: int, root: Path) -> None:
    """The example on wml: no-op plans at two latencies, then in a project crowded by other stacks, with faults."""
    from fldecl.emulator import EmulatorServer

    stack = example_copy(root / "example-wml")
    with EmulatorServer(data_dir=root / "emulator", training_seconds=None) as emulator:
        env = {**emulator.env(), "FLDECL_BACKEND": "wml"}
        fldecl("apply", str(stack), "--auto-approve", "--no-wait", env=env)
        for latency in (0, latency_ms):
            emulator.set_faults(latency_ms=latency)
            plan = noop_plan(stack, repeats, env)
            print(f"example stack, wml (emulator at {latency} ms per request): no-op plan {plan:.3f} s, "
                  f"{plan_requests(emulator, stack, env)} requests")
        emulator.set_faults(latency_ms=0)
        alone = plan_requests(emulator, stack, env)
        crowd(emulator, others)
        crowded = plan_requests(emulator, stack, env)
        emulator.set_faults(error_rate=0.25, seed=1)
        for command in (["plan", "--detailed-exitcode"], ["apply", "--auto-approve", "--no-wait"], ["show"]):
            fldecl(command[0], str(stack), *command[1:], env=env)  # fails the benchmark unless it succeeds at once
        print(f"with {others} RTSs of other stacks in the project: the example's no-op plan makes {crowded} requests "
              f"({alone} alone); plan, apply and show each succeeded on the first try at 25% injected faults")


def plan_requests(emulator: Any, stack: Path, env: dict[str, str]) -> int:
    emulator.reset_stats()
    fldecl("plan", str(stack), env=env)
    return int(emulator.stats()["total"])


def crowd(emulator: Any, count: int) -> None:
    """``count`` remote training systems of another stack, made through IBM's client as a notebook would."""
    from fldecl.providers.wml.connection import Credentials, WmlSession

    client = WmlSession(Credentials.from_environment(emulator.env())).client
    for i in range(count):
        client.remote_training_systems.store({"name": f"Other_{i}", "allowed_identities": [], "tags": ["fldecl.stack.other"]})


def compile_fldecl() -> None:
    """fldecl's bytecode, as an installed package has it: an editable install compiles nothing, and where
    PYTHONDONTWRITEBYTECODE is set (as in many CI images) every run would compile fldecl again."""
    compileall.compile_dir(Path(__file__).resolve().parent.parent / "fldecl", quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100,1000,5000")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--parties", type=int, default=50)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--others", type=int, default=2000, help="RTSs of other stacks in the crowded project")
    parser.add_argument("--skip-wml", action="store_true")
    arguments = parser.parse_args()
    sizes = [int(size) for size in arguments.sizes.split(",")]
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        compile_fldecl()
        local_stacks(sizes, arguments.parties, arguments.repeats, root)
        if not arguments.skip_wml:
            wml_example(arguments.latency_ms, arguments.repeats, arguments.others, root)


if __name__ == "__main__":
    main()
