"""``fldecl party run`` and ``party config``: one party of a training, run here by the stack's backend, or handed its kit."""

from __future__ import annotations

from pathlib import Path

import click

from fldecl.cli.session import guarded, load, reconciler, scrub
from fldecl.kinds.training_run import party_kit, run_party
from fldecl.render.party_kit import party_kit_text


@guarded
def run(rts_name: str, training_name: str, aggregator: str | None, key_file: Path | None, trust_aggregator: bool,
        stack_dir: Path, backend: str | None) -> None:
    run_party(reconciler(load(stack_dir, backend)), rts_name, training_name, aggregator=aggregator, key_file=key_file,
              trust_aggregator=trust_aggregator)


@guarded
def config(rts_name: str, training_name: str | None, fmt: str, key_file: Path | None, party_dir: Path | None, stack_dir: Path,
           backend: str | None) -> None:
    kit = party_kit(reconciler(load(stack_dir, backend)), rts_name, training_name, key_file=key_file, party_dir=party_dir)
    click.echo(scrub(party_kit_text(kit, fmt)), nl=False)
