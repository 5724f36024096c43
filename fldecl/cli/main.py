"""The ``fldecl`` command line: a thin face over the reconciler.

Only click is imported at start-up; each command imports what it needs when it runs, so
``fldecl --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

import click

from fldecl import __version__
from fldecl.vocabulary import BACKENDS

STACK_DIR = click.argument("stack_dir", type=click.Path(path_type=Path, file_okay=False), default=".", required=False)
BACKEND = click.option("--backend", type=click.Choice(BACKENDS), help="Override the Stack's backend.")
TARGET = click.option("--target", "targets", multiple=True, metavar="KIND/NAME",
                      help="Only this resource and what it depends on. Repeatable.")
PARALLELISM = click.option("--parallelism", default=10, show_default=True, type=click.IntRange(1, 64),
                           help="Independent resources changed at once.")
LOCK_TIMEOUT = click.option("--lock-timeout", default=0.0, show_default=True, type=click.FloatRange(0),
                            help="Seconds to wait for another run on this stack to finish.")
AUTO_APPROVE = click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation (required without a terminal).")


class Commands(click.Group):
    """click's group, with usage errors (a mistyped flag, a missing argument) exiting 1 as Terraform's do:
    exit code 2 is `plan --detailed-exitcode`'s "there are changes", which a typo must never pass for."""

    def invoke(self, ctx: click.Context) -> object:
        from fldecl.cli import signals  # lazy: only once a command runs
        from fldecl.interrupt import Interrupted

        try:
            return super().invoke(ctx)
        except click.UsageError as error:
            _usage_error(error)
        except signals.Cancelled as cancelled:
            click.echo(str(cancelled), err=True)
            signals.exit_now()
        except (KeyboardInterrupt, Interrupted):
            click.echo("Interrupted: stopped before the end; run the command again to finish what it started.", err=True)
            signals.exit_now()

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as error:
            _usage_error(error)


def _usage_error(error: click.UsageError) -> NoReturn:
    """click's message (usage, hint, error), and exit 1."""
    error.show()
    raise SystemExit(1)


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
    from fldecl.cli import commands  # lazy: `fldecl --help` imports click alone

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
    from fldecl.cli import commands  # lazy: `fldecl --help` imports click alone

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
    from fldecl.cli import commands  # lazy: `fldecl --help` imports click alone

    commands.apply(target, backend, auto_approve, parallelism, lock_timeout, list(targets), list(replace), not no_wait)


@main.command()
@STACK_DIR
@BACKEND
@AUTO_APPROVE
@PARALLELISM
@LOCK_TIMEOUT
@TARGET
@click.option("--delete-files", "--delete-key-files", "delete_key_files", is_flag=True,
              help="Also delete the files fldecl made: CA and party keys and certificates, and the parties' data files "
                   "(kept by default). --delete-key-files is the old name.")
def destroy(stack_dir: Path, backend: str | None, auto_approve: bool, parallelism: int, lock_timeout: float,
            targets: tuple[str, ...], delete_key_files: bool) -> None:
    """Delete every resource the stack owns, dependants first.

    Only resources carrying this stack's ownership tag are touched. The key, certificate and data
    files fldecl made are kept unless --delete-files is given (each removed file is named): a
    lost CA key cannot be recovered. The next plan adopts kept key files, and says so.
    """
    from fldecl.cli import commands  # lazy: `fldecl --help` imports click alone

    commands.destroy(stack_dir, backend, auto_approve, parallelism, lock_timeout, list(targets), delete_key_files)


@main.command()
@STACK_DIR
@BACKEND
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
def show(stack_dir: Path, backend: str | None, as_json: bool) -> None:
    """List what the stack owns, with ids and status, and each training's rounds."""
    from fldecl.cli import commands  # lazy: `fldecl --help` imports click alone

    commands.show(stack_dir, backend, as_json)


@main.command()
@STACK_DIR
@BACKEND
@click.option("--json", "as_json", is_flag=True, help="As JSON: {KIND/NAME: id, KIND/NAME.NAME: value, BACKEND.NAME: value}.")
@click.option("--raw", "address", metavar="NAME",
              help="Print only this value, as plain text (for scripts): a resource's id (KIND/NAME) or another output's.")
def output(stack_dir: Path, backend: str | None, as_json: bool, address: str | None) -> None:
    """Print the id of each resource the stack owns, and what else a party needs to join, as plain values,
    like `terraform output`: its remote training system's id, the training's id, and on nvflare each
    participant's startup kit directory (KIND/NAME.kit for a site, nvflare.server_kit, nvflare.admin_kit)."""
    from fldecl.cli import commands  # lazy: `fldecl --help` imports click alone

    commands.output(stack_dir, backend, as_json, address)


@main.command()
@STACK_DIR
def graph(stack_dir: Path) -> None:
    """Print the dependency graph in Graphviz DOT (e.g. `fldecl graph | dot -Tsvg > graph.svg`)."""
    from fldecl.cli import commands  # lazy: `fldecl --help` imports click alone

    commands.graph(stack_dir)


@main.command(name="import")
@click.argument("address", metavar="[KIND/NAME", required=False)
@click.argument("resource_id", metavar="ID]", required=False)
@STACK_DIR
@BACKEND
@LOCK_TIMEOUT
@click.option("--generate-into", "generate_into", type=click.Path(path_type=Path, file_okay=False), metavar="DIR",
              help="Instead: write manifests for what the backend holds (by --tag or --id) into DIR, and print the imports to run.")
@click.option("--tag", "tags", multiple=True, help="With --generate-into: the resources carrying this tag. Repeatable.")
@click.option("--id", "ids", multiple=True, metavar="ID",
              help="With --generate-into: this resource; a training's id brings its model and parties. Repeatable.")
def import_(address: str | None, resource_id: str | None, stack_dir: Path, backend: str | None, lock_timeout: float,
            generate_into: Path | None, tags: tuple[str, ...], ids: tuple[str, ...]) -> None:
    """Adopt an existing resource (e.g. one the notebook made) by tagging it as the stack's.

    The resource must be declared in the manifests; it is not recreated. The next plan shows how
    it differs from its manifest. For certificates and data splits, ID is ignored: the declared
    files are inspected and recorded.

    With --generate-into DIR, the manifests are written for you: the models and remote training
    systems the backend holds with a --tag (or an --id), and, for reference, the trainings that use
    them; a model's stored content is written beside them. Run the imports it prints, and `fldecl
    plan DIR` shows no changes.
    """
    from fldecl.cli import commands  # lazy: `fldecl --help` imports click alone

    if generate_into is not None:
        commands.generate_manifests(generate_into, address, backend, list(tags), list(ids))
    else:
        commands.import_resource(address, resource_id, stack_dir, backend, lock_timeout, bool(tags or ids))


@main.command()
@click.argument("training", metavar="TRAINING")
@STACK_DIR
@BACKEND
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines, and the training's state as it changes, until it ends.")
@click.option("--party", "parties", multiple=True, metavar="NAME", help="Only this log (a party's name, or `aggregator`). Repeatable.")
def logs(training: str, stack_dir: Path, backend: str | None, follow: bool, parties: tuple[str, ...]) -> None:
    """Print the logs of the training TRAINING (its name, or Training/NAME) that this machine holds.

    On the local backend: the aggregator's and each party's. On WML: those of the parties that
    `fldecl party run` ran here (WML does not hand out its aggregator's log). Each line starts with
    whose log it is. With --follow, a training started with `apply --no-wait` is followed to its end.
    """
    from fldecl.cli import logs as training_logs  # lazy: `fldecl --help` imports click alone

    training_logs.logs(training, stack_dir, backend, follow, parties)


@main.command(name="force-unlock")
@click.argument("lock_id", metavar="LOCK_ID")
@STACK_DIR
@BACKEND
def force_unlock(lock_id: str, stack_dir: Path, backend: str | None) -> None:
    """Break the stack's lock that a run which died still holds (LOCK_ID is in the "locked by" error).

    Only for a holder that is gone: breaking the lock of a run that is still working lets two
    runs write at once. On WML a lease that stops heartbeating is given up by itself after a minute.
    """
    from fldecl.cli import commands  # lazy: `fldecl --help` imports click alone

    commands.force_unlock(lock_id, stack_dir, backend)


@main.group()
def state() -> None:
    """What the stack owns, as Terraform's `state` commands: list it, or stop managing a resource without deleting it."""


@state.command(name="list")
@STACK_DIR
@BACKEND
def state_list(stack_dir: Path, backend: str | None) -> None:
    """Print the address (KIND/NAME) of each resource the stack owns, one a line (`fldecl show` adds ids and status)."""
    from fldecl.cli import commands  # lazy: `fldecl --help` imports click alone

    commands.state_list(stack_dir, backend)


@state.command(name="rm")
@click.argument("address", metavar="KIND/NAME")
@STACK_DIR
@BACKEND
@LOCK_TIMEOUT
def state_rm(address: str, stack_dir: Path, backend: str | None, lock_timeout: float) -> None:
    """Stop managing KIND/NAME without deleting it, like `terraform state rm`.

    Where the backend holds tags (WML, the local backend's records), the stack's ownership tag is
    removed and the resource stays as it is; for certificates and data splits, fldecl's record is
    dropped and the files stay. The next plan no longer sees it: while it is still declared, the
    plan creates it anew (and says that its name is taken, with the `fldecl import` that adopts it
    again). WML cannot change a training's tags, so a WML training cannot be forgotten.
    """
    from fldecl.cli import commands  # lazy: `fldecl --help` imports click alone

    commands.state_rm(address, stack_dir, backend, lock_timeout)


@main.group()
def party() -> None:
    """Run a party of a training by hand (another terminal, another machine), or hand a party its settings."""


@party.command(name="run")
@click.argument("rts_name")
@click.option("--training", required=True, help="Name of the Training to join.")
@click.option("--aggregator", metavar="HOST:PORT", help="Where the aggregator listens (default: as recorded by the local backend).")
@click.option("--key-file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="The party's own private key, when its certificate was issued from its CSR (the key never entered the stack).")
@click.option("--trust-aggregator", is_flag=True,
              help="wml: let IBM's party runtime load whatever model the aggregator sends (a pickle runs code), "
                   "not only the model this stack declares.")
@STACK_DIR
@BACKEND
def party_run(rts_name: str, training: str, aggregator: str | None, key_file: Path | None, trust_aggregator: bool,
              stack_dir: Path, backend: str | None) -> None:
    """Run the party RTS_NAME of a training, with its declared certificate and data handler.

    The stack's backend runs it: on `local`, fldecl's runtime joins the aggregator this machine
    started (or --aggregator); on `wml`, the IBM party runtime the party's settings name (24.1 in
    the Python FLDECL_PARTY_PYTHON names, 23.1 in FLDECL_PARTY23_PYTHON's; by default this one)
    joins the training on WML.
    """
    from fldecl.cli import party_commands  # lazy: `fldecl --help` imports click alone

    party_commands.run(rts_name, training, aggregator, key_file, trust_aggregator, stack_dir, backend)


@party.command(name="config")
@click.argument("rts_name")
@click.option("--training", help="Name of the Training to join (default: the one training that lists the party).")
@click.option("--format", "fmt", type=click.Choice(["json", "python", "env"]), default="json", show_default=True,
              help="python: assignments to paste into IBM's party notebook; env: NAME=value lines.")
@click.option("--key-file", type=click.Path(path_type=Path, dir_okay=False),
              help="Where the party keeps its own private key, when its certificate was issued from its CSR.")
@click.option("--party-dir", type=click.Path(path_type=Path, file_okay=False),
              help="The stack directory as the party's machine has it (default: this one); the kit's paths are under it.")
@STACK_DIR
@BACKEND
def party_config(rts_name: str, training: str | None, fmt: str, key_file: Path | None, party_dir: Path | None, stack_dir: Path,
                 backend: str | None) -> None:
    """Print what the party RTS_NAME needs to join a training by itself, with no secret in it.

    On `wml`: the remote training system's id, the training's id, and the `create_party`
    metadata (data handler, key and certificate paths) that IBM's party notebook passes to
    `create_party(rts_id, party_metadata)` before `party.run(aggregator_id=training_id)`.
    """
    from fldecl.cli import party_commands  # lazy: `fldecl --help` imports click alone

    party_commands.config(rts_name, training, fmt, key_file, party_dir, stack_dir, backend)


@main.group()
def emulator() -> None:
    """A local HTTPS emulator of the WML REST API, for tests and CI without IBM Cloud."""


@emulator.command(name="serve", add_help_option=False,
                  context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []})
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
def emulator_serve(arguments: tuple[str, ...]) -> None:
    """Serve the emulator on 127.0.0.1 and print the `export WML_...` lines (`--help` lists every knob).

    Trainings are WML's: they accept parties, and IBM's party runtime (`fldecl party run`) trains
    them against the emulator's aggregator. --simulate-trainings makes them up on a clock instead.
    """
    from fldecl.emulator.__main__ import main as serve_emulator  # lazy: `fldecl --help` imports click alone

    try:
        serve_emulator(list(arguments), prog="fldecl emulator serve")
    except SystemExit as usage:  # argparse's usage errors exit 2, which fldecl keeps for "changes"
        raise SystemExit(1 if usage.code == 2 else usage.code) from None
