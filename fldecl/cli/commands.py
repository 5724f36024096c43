"""Command bodies for validate / plan / apply / destroy / show / graph / import."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.text import Text

from fldecl.cli.progress import LineReporter, StepPrinter
from fldecl.cli.session import console, fail, guarded, is_interactive, load, print_diagnostics, reconciler, scrub
from fldecl.cli.signals import Cancelled
from fldecl.core.contract import ApplyOptions, Selection
from fldecl.core.diagnostics import Diagnostics
from fldecl.core.errors import StackInvalid
from fldecl.core.graph import declared_graph
from fldecl.core.plan import Plan
from fldecl.core.reconciler import Reconciler
from fldecl.core.saved_plan import check_fresh, load_saved, plan_document, saved_text
from fldecl.core.yaml_source import iter_manifest_files
from fldecl.kinds import new_stack
from fldecl.render.plan_text import print_plan as print_text


def validate(stack_dir: Path, as_json: bool) -> None:
    try:
        stack = load(stack_dir)
        diagnostics = Diagnostics()
    except StackInvalid as exc:
        stack, diagnostics = None, exc.diagnostics
    if as_json:
        click.echo(scrub(json.dumps(diagnostics.to_json(), indent=2)))
    elif diagnostics.errors:
        print_diagnostics(diagnostics)
        console(stderr=True).print(f"[red]{len(diagnostics.errors)} error(s).[/red]")
    else:
        assert stack is not None
        console().print(f"[green]Success![/green] {len(stack.declarations)} resources in stack {stack.name!r} are valid.")
    if diagnostics.errors:
        sys.exit(1)


@guarded
def plan(stack_dir: Path, backend: str | None, fmt: str, out: Path | None, detailed_exitcode: bool,
         destroy: bool, targets: list[str], replace: list[str]) -> None:
    stack = load(stack_dir, backend)
    the_plan = reconciler(stack).plan(destroy=destroy, targets=targets, replace=replace)
    print_plan(the_plan, fmt, str(stack_dir))
    if out:

        out.write_text(scrub(saved_text(the_plan, stack.directory)))
        console(stderr=True).print(f"Saved the plan to {out}. Apply exactly it with: fldecl apply {out}")
    if detailed_exitcode and the_plan.has_changes:
        sys.exit(2)


def print_plan(the_plan: Plan, fmt: str, stack_arg: str) -> None:
    if fmt == "json":
        click.echo(scrub(json.dumps(plan_document(the_plan), indent=2, default=str)))
    elif fmt == "markdown":
        from fldecl.render.plan_markdown import plan_markdown  # lazy: one format of three

        click.echo(scrub(plan_markdown(the_plan, stack_arg)), nl=False)
    else:
        print_text(the_plan, console(), stack_arg)


@guarded
def apply(target: Path, backend: str | None, auto_approve: bool, parallelism: int, lock_timeout: float,
          targets: list[str], replace: list[str], wait: bool) -> None:
    options = ApplyOptions(parallelism, lock_timeout, auto_approve, wait)
    if target.is_file():
        _apply_saved(target, backend, options)
        return
    stack = load(target, backend)
    _run(stack, "apply", options, lambda rec: rec.plan(targets=targets, replace=replace))


@guarded
def destroy(stack_dir: Path, backend: str | None, auto_approve: bool, parallelism: int, lock_timeout: float,
            targets: list[str], delete_key_files: bool) -> None:
    stack = load(stack_dir, backend)
    options = ApplyOptions(parallelism, lock_timeout, auto_approve, delete_key_files=delete_key_files)
    _run(stack, "destroy", options, lambda rec: rec.plan(destroy=True, targets=targets))
    if not delete_key_files:
        console().print("[dim]Key, certificate and data files were kept (pass --delete-files to remove them).[/dim]")


def _apply_saved(plan_file: Path, backend: str | None, options: ApplyOptions) -> None:
    """A saved plan was approved when it was reviewed."""
    saved = load_saved(plan_file)
    stack = load(Path(saved["stack_dir"]), backend or saved["backend"])

    def replan(rec: Reconciler) -> Plan:
        fresh = rec.plan(destroy=saved["destroy"], targets=saved["targets"], replace=saved["replace"])
        check_fresh(saved, fresh)
        return fresh

    _run(stack, "apply", dataclasses.replace(options, auto_approve=True), replan)


def _run(stack: Any, operation: str, options: ApplyOptions, make_plan: Any) -> None:
    out = console()
    rec = reconciler(stack, wait=options.wait)
    with rec.locked(operation, options.lock_timeout):
        the_plan = make_plan(rec)
        print_plan(the_plan, "text", str(stack.directory))
        if not the_plan.has_changes:
            return
        _approve(operation, options.auto_approve)
        out.print()
        try:
            with StepPrinter(out) as printer:
                result = rec.apply(the_plan, printer, options)
        finally:
            if isinstance(rec.ctx.reporter, LineReporter):
                rec.ctx.reporter.close()
    style = "red" if result.failed else "green"
    out.print(f"\n[bold {style}]{operation.capitalize()} {'failed' if result.failed else 'complete'}![/bold {style}] {result.summary}.")
    for failure in result.failed:
        out.print(Text(f"  {failure.step[0]} {failure.step[1]}: {scrub(failure.message)}", style="red"))
    if result.failed:
        sys.exit(1)


def _approve(operation: str, auto_approve: bool) -> None:
    if auto_approve:
        return
    if not is_interactive():
        fail(f"refusing to {operation} without approval: there is no terminal to ask on. Pass --auto-approve "
             "(or apply a reviewed plan file: fldecl plan --out plan.json; fldecl apply plan.json)")
    try:
        answer = click.prompt(f"\nDo you want to {operation}? Only 'yes' will be accepted", default="", show_default=False)
    except click.Abort as aborted:  # click's answer to Ctrl-C or the end of input at a prompt
        if isinstance(aborted.__context__, KeyboardInterrupt):
            raise Cancelled(f"{operation.capitalize()} cancelled: nothing was changed.") from None
        fail(f"{operation} cancelled: no answer (end of input); nothing was changed")
    if answer.strip() != "yes":
        fail(f"{operation} cancelled")


@guarded
def show(stack_dir: Path, backend: str | None, as_json: bool) -> None:
    stack = load(stack_dir, backend)
    observed = reconciler(stack).observe()
    if as_json:
        rows = [{"address": o.address, "id": o.id, "status": o.status, "created_at": o.created_at, "tags": o.tags,
                 "attributes": o.attributes, "details": o.details.to_dict() if o.details else o.document} for o in observed]
        click.echo(scrub(json.dumps({"stack": stack.name, "backend": stack.backend, "resources": rows}, indent=2, default=str)))
        return
    from fldecl.render.state_text import print_state  # lazy: rich's tables, which plans do not draw

    print_state(stack, observed, console())


@guarded
def output(stack_dir: Path, backend: str | None, as_json: bool, address: str | None) -> None:
    rec = reconciler(load(stack_dir, backend))
    values = rec.outputs()
    if address:
        click.echo(values[address] if address in values else rec.owned(address).id)
        return
    if as_json:
        click.echo(json.dumps(values, indent=2, sort_keys=True))
    else:
        from fldecl.render.state_text import print_outputs  # lazy: rich's tables, which plans do not draw

        print_outputs(values, console())


@guarded
def graph(stack_dir: Path) -> None:
    click.echo(declared_graph(load(stack_dir)).to_dot(), nl=False)


@guarded
def import_resource(address: str | None, resource_id: str | None, stack_dir: Path, backend: str | None, lock_timeout: float,
                    selection_given: bool) -> None:
    if selection_given:
        fail("--tag and --id choose what --generate-into writes manifests for; to import one resource: fldecl import KIND/NAME ID")
    if address is None or resource_id is None:
        fail("say what to import: fldecl import KIND/NAME ID [STACK_DIR] (or write the manifests first with --generate-into DIR)")
    stack = load(stack_dir, backend)
    rec = reconciler(stack)
    with rec.locked("import", lock_timeout):
        adopted = rec.adopt(address, resource_id)
    console().print(f"[green]Imported {address}[/green] (id {adopted.id}); it now carries the tag {stack.owner_tag}. "
                    "Run `fldecl plan` to see how it differs from its manifest.")


@guarded
def state_list(stack_dir: Path, backend: str | None) -> None:
    for address in sorted(obs.address for obs in reconciler(load(stack_dir, backend)).observe()):
        click.echo(address)


@guarded
def state_rm(address: str, stack_dir: Path, backend: str | None, lock_timeout: float) -> None:
    rec = reconciler(load(stack_dir, backend))
    with rec.locked("state rm", lock_timeout):
        forgotten, done = rec.forget(address)
    console().print(Text(f"Removed {address} (id {forgotten.id}) from the stack's state: {scrub(done)}."))
    if address in rec.stack.declarations:
        console().print(Text(f"It is still declared: `fldecl plan` shows what the next apply does about it. To manage this "
                             f"one again: fldecl import {address} {forgotten.id}", style="dim"))


@guarded
def force_unlock(lock_id: str, stack_dir: Path, backend: str | None) -> None:
    console().print(reconciler(load(stack_dir, backend)).force_unlock(lock_id))


@guarded
def generate_manifests(directory: Path, stray: str | None, backend: str | None, tags: list[str], ids: list[str]) -> None:
    if stray is not None:
        fail(f"--generate-into writes a whole stack: leave out {stray!r}, and choose what to read with --tag or --id")
    if not tags and not ids:
        fail("say what to read from the backend: --tag TAG (e.g. wml_fl_fhe_nb_example) or --id ID, each repeatable")
    from fldecl.core import generate as generation  # lazy: only `import --generate-into` writes manifests
    from fldecl.render.manifests import generation_report, manifest_files
    with generation.new_directory(directory):
        new = not any(iter_manifest_files(directory))
        stack = new_stack(directory, backend or "wml", tags) if new else load(directory, backend)
        generated = generation.generate(stack, reconciler(stack).search(Selection(tuple(tags), tuple(ids))))
        if not generated.manifests:
            fail(f"the {stack.backend} backend holds nothing new with {' or '.join([*tags, *ids])}" +
                 "".join(f"; {note}" for note in generated.skipped))
        stack_manifest = generation.stack_document(stack.name, stack.backend, tags) if new else None
        files = manifest_files(generated, stack_manifest, f"the {stack.backend} backend")
        written = generation.write_files(directory, files)
        try:
            load(directory, backend)
        except StackInvalid:
            generation.remove(written)
            raise
    for line in generation_report(generated, list(files), str(directory)):
        console().print(Text(scrub(line)))
