"""``fldecl party run``: one party of a training, run by hand by the stack's backend."""

from __future__ import annotations

from pathlib import Path

from fldecl.cli.session import guarded, load, reconciler


@guarded
def run(rts_name: str, training_name: str, aggregator: str | None, key_file: Path | None, trust_aggregator: bool,
        stack_dir: Path, backend: str | None) -> None:
    reconciler(load(stack_dir, backend)).run_party(rts_name, training_name, aggregator=aggregator, key_file=key_file,
                                                   trust_aggregator=trust_aggregator)
