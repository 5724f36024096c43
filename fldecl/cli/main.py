"""The ``fldecl`` command line: a thin face over the reconciler.

Only click is imported at start-up; each command imports what it needs when it runs, so
``fldecl --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import click

from fldecl import __version__

STACK_DIR = click.argument("stack_dir", type=click.Path(path_type=Path, file_okay=False), default=".", required=False)
BACKEND = click.option("--backend", type=click.Choice(["local", "wml"]), help="Override the Stack's backend.")
TARGET = click.option("--target", "targets", multiple=True, metavar="KIND/NAME",
                      help="Only this resource and what it depends on. Repeatable.")
PARALLELISM = click.option("--parallelism", default=10, show_default=True, type=click.IntRange(1, 64),
                           help="Independent resources changed at once.")
LOCK_TIMEOUT = click.option("--lock-timeout", default=0.0, show_default=True, type=click.FloatRange(0),
                            help="Seconds to wait for another run on this stack to finish.")
AUTO_APPROVE = click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation (required without a terminal).")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="fldecl")
def main() -> None:
    """Declarative federated learning with homomorphic encryption.

    Declare an FL experiment (CA and party certificates, data splits, models, remote training
    systems, the training) as YAML manifests in a directory, then reconcile it like Terraform:

    \b
      fldecl validate       check the manifests (pre-commit)
      fldecl plan           show what would change (on every pull request)
      fldecl apply          make it so (on merge); trains on the local backend
      fldecl destroy        delete everything the stack owns

    STACK_DIR defaults to the current directory. The backend is the Stack manifest's
    (`local`, on this machine, or `wml`, IBM Watson Machine Learning).
    """


@main.command()
@STACK_DIR
@click.option("--json", "as_json", is_flag=True, help="Diagnostics as JSON (like `terraform validate -json`).")
def validate(stack_dir: Path, as_json: bool) -> None:
    """Check the manifests: YAML, schema, references, cycles, paths and WML's rules.

    Reports every problem at once with file:line:column and the field; exit code 1 if any.
    Nothing is read from or written to a backend.
    """
    from fldecl.cli import commands

    commands.validate(stack_dir, as_json)


@main.command()
@STACK_DIR
@BACKEND
@click.option("--json", "as_json", is_flag=True, help="Machine-readable plan (same as --format json).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True,
              help="markdown suits a pull-request comment.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Save the plan; `fldecl apply FILE` applies exactly it.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 when there are no changes, 2 when there are, 1 on error.")
@click.option("--destroy", is_flag=True, help="Plan the deletion of everything the stack owns.")
@TARGET
@click.option("--replace", "replace", multiple=True, metavar="KIND/NAME", help="Plan to replace this resource even if unchanged.")
def plan(stack_dir: Path, backend: str | None, as_json: bool, fmt: str, out: Path | None, detailed_exitcode: bool,
         destroy: bool, targets: tuple[str, ...], replace: tuple[str, ...]) -> None:
    """Show what apply would change: + create, ~ update, -/+ replace, - delete.

    Reads only the resources this stack owns (by its ownership tag) and compares them with the
    manifests. Nothing is changed. A summary line leads every format.
    """
    from fldecl.cli import commands

    commands.plan(stack_dir, backend, "json" if as_json else fmt, out, detailed_exitcode, destroy, list(targets), list(replace))


@main.command()
@click.argument("target", type=click.Path(path_type=Path), default=".", required=False, metavar="[STACK_DIR|PLAN_FILE]")
@BACKEND
@AUTO_APPROVE
@PARALLELISM
@LOCK_TIMEOUT
@TARGET
@click.option("--replace", "replace", multiple=True, metavar="KIND/NAME", help="Replace this resource even if unchanged.")
@click.option("--no-wait", is_flag=True, help="Start trainings without following them to the end.")
def apply(target: Path, backend: str | None, auto_approve: bool, parallelism: int, lock_timeout: float,
          targets: tuple[str, ...], replace: tuple[str, ...], no_wait: bool) -> None:
    """Make the backend match the manifests.

    Plans, asks for approval (type `yes`), then creates, updates, replaces and deletes in
    dependency order, independent resources in parallel. Given a PLAN_FILE saved by
    `fldecl plan --out`, applies exactly that plan, and refuses it if the manifests or the
    backend changed since. On the local backend a Training really trains.
    """
    from fldecl.cli import commands

    commands.apply(target, backend, auto_approve, parallelism, lock_timeout, list(targets), list(replace), not no_wait)


@main.command()
@STACK_DIR
@BACKEND
@AUTO_APPROVE
@PARALLELISM
@LOCK_TIMEOUT
@TARGET
@click.option("--delete-key-files", is_flag=True, help="Also delete CA and party key and certificate files (kept by default).")
def destroy(stack_dir: Path, backend: str | None, auto_approve: bool, parallelism: int, lock_timeout: float,
            targets: tuple[str, ...], delete_key_files: bool) -> None:
    """Delete every resource the stack owns, dependants first.

    Only resources carrying this stack's ownership tag are touched. Local key files are kept
    unless --delete-key-files is given: a lost CA key cannot be recovered.
    """
    from fldecl.cli import commands

    commands.destroy(stack_dir, backend, auto_approve, parallelism, lock_timeout, list(targets), delete_key_files)


@main.command()
@STACK_DIR
@BACKEND
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
def show(stack_dir: Path, backend: str | None, as_json: bool) -> None:
    """List what the stack owns, with ids and status, and each training's rounds."""
    from fldecl.cli import commands

    commands.show(stack_dir, backend, as_json)


@main.command()
@STACK_DIR
def graph(stack_dir: Path) -> None:
    """Print the dependency graph in Graphviz DOT (e.g. `fldecl graph | dot -Tsvg > graph.svg`)."""
    from fldecl.cli import commands

    commands.graph(stack_dir)


@main.command(name="import")
@click.argument("address", metavar="KIND/NAME")
@click.argument("resource_id", metavar="ID")
@STACK_DIR
@BACKEND
@LOCK_TIMEOUT
def import_(address: str, resource_id: str, stack_dir: Path, backend: str | None, lock_timeout: float) -> None:
    """Adopt an existing resource (e.g. one the notebook made) by tagging it as the stack's.

    The resource must be declared in the manifests; it is not recreated. The next plan shows how
    it differs from its manifest. For certificates and data splits, ID is ignored: the declared
    files are inspected and recorded.
    """
    from fldecl.cli import commands

    commands.import_resource(address, resource_id, stack_dir, backend, lock_timeout)


@main.group()
def party() -> None:
    """Run a party of a training by hand (another terminal, another machine)."""


@party.command(name="run")
@click.argument("rts_name")
@click.option("--training", required=True, help="Name of the Training to join.")
@click.option("--aggregator", metavar="HOST:PORT", help="Where the aggregator listens (default: as recorded by the local backend).")
@STACK_DIR
@BACKEND
def party_run(rts_name: str, training: str, aggregator: str | None, stack_dir: Path, backend: str | None) -> None:
    """Run the party RTS_NAME of a training, with its declared certificate and data handler."""
    from fldecl.cli import party_commands

    party_commands.run(rts_name, training, aggregator, stack_dir, backend)


@main.group()
def emulator() -> None:
    """A local HTTPS emulator of the WML REST API, for tests and CI without IBM Cloud."""


@emulator.command(name="serve")
@click.option("--port", default=0, show_default=True, help="0 picks a free port.")
@click.option("--data", type=click.Path(path_type=Path, file_okay=False), help="Keep state here across restarts.")
@click.option("--latency-ms", default=0, show_default=True, help="Added to every request.")
@click.option("--error-rate", default=0.0, show_default=True, help="Fraction of requests answered 500/503/429 or dropped.")
@click.option("--seed", default=None, type=int, help="Seed for the fault injection.")
@click.option("--training-seconds", default=30.0, show_default=True, help="How long a training takes from pending to completed.")
@click.option("--stack", "stack_dir", type=click.Path(path_type=Path, file_okay=False, exists=True),
              help="Run each training for real with this stack's parties (keys, CA, data handlers) instead of simulating it.")
def emulator_serve(port: int, data: Path | None, latency_ms: int, error_rate: float, seed: int | None,
                   training_seconds: float, stack_dir: Path | None) -> None:
    """Serve the emulator on 127.0.0.1 and print the `export WML_...` lines a client needs.

    Trainings move through their states on a clock, with simulated rounds; with --stack, a
    training that reaches `running` is trained here for real by the aggregator and one process
    per party. `GET /_emulator/stats` counts requests by route. `python -m fldecl.emulator --help`
    lists every knob.
    """
    from fldecl.emulator import StackTrainingRunner, serve

    runner = StackTrainingRunner(stack_dir) if stack_dir else None
    serve(port=port, data_dir=data, latency_ms=latency_ms, error_rate=error_rate, seed=seed,
          training_seconds=training_seconds, training_runner=runner)
