"""``fldecl show`` and ``fldecl output``: what the stack owns, with ids whole, and each training's rounds."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from fldecl.core.contract import NAME_ATTRIBUTE, Observed
from fldecl.core.stack import Stack
from fldecl.kinds.training_run import RoundRecord, TrainingProgress, progress_of


def print_state(stack: Stack, observed: list[Observed], console: Console) -> None:
    console.print(f"Stack [bold]{stack.name}[/bold] on backend [bold]{stack.backend}[/bold], ownership tag {stack.owner_tag}")
    if not observed:
        console.print("The stack owns nothing yet. Run `fldecl apply`.")
        return
    rows = [("resource", "id", "status", "created")] + [_state_row(stack, obs) for obs in observed]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    for index, row in enumerate(rows):
        # Plain padded lines rather than a table: an id is never folded or cut, whatever the terminal's width.
        line = "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)) + "  " + row[3]
        console.print(Text(line.rstrip(), style="bold" if index == 0 else ""))
    for obs in observed:
        progress = progress_of(obs)
        if progress and progress.rounds:
            print_rounds(obs.address, progress, console)


def _state_row(stack: Stack, obs: Observed) -> tuple[str, str, str, str]:
    resource = obs.address
    backend_name = obs.attributes.get(NAME_ATTRIBUTE)
    if backend_name and backend_name != obs.name:
        resource += f" ({json.dumps(backend_name, ensure_ascii=False)})"
    if obs.address not in stack.declarations:
        resource += " (not declared)"
    status = obs.status or ""
    if obs.replace_reason:
        status += f" (needs replacement: {obs.replace_reason})"
    return resource, obs.id, status, (obs.created_at or "")[:16].replace("T", " ")


def print_outputs(observed: list[Observed], console: Console) -> None:
    """``fldecl output``: each owned resource's id, as ``KIND/NAME = "id"``, what a party or a script needs."""
    for obs in sorted(observed, key=lambda o: o.address):
        console.print(Text(f"{obs.address} = {json.dumps(obs.id)}"))


def print_rounds(address: str, progress: TrainingProgress, console: Console) -> None:
    """One row per round and party: its local training metrics, the fused model on its test data, bytes sent."""
    rounds = progress.rounds
    local_names = sorted({k for r in rounds for p in r.parties.values() for k in p.metrics if not k.startswith("fused_")})
    fused_names = sorted({k for r in rounds for k in r.fused})
    table = Table(title=f"{address}: rounds", show_edge=False)
    local_titles = [n if n.startswith("local_") else f"local_{n}" for n in local_names]
    for column in ["round", "party", *local_titles, *[f"fused_{n}" for n in fused_names], "sent"]:
        table.add_column(column, justify="left" if column == "party" else "right")
    for r in rounds:
        _add_round(table, r, local_names, fused_names)
    console.print()
    console.print(table)
    if progress.plot:
        console.print(f"Metrics plot: {progress.plot}")


def _add_round(table: Table, record: RoundRecord, local_names: list[str], fused_names: list[str]) -> None:
    for party, values in sorted(record.parties.items()):
        cells = [_number(values.metrics.get(n)) for n in local_names] + [_number(values.metrics.get(f"fused_{n}")) for n in fused_names]
        party_label = party if values.contributed else f"{party} (no update)"
        table.add_row(str(record.round), party_label, *cells, _megabytes(values.bytes_sent))
    seconds = f"{record.seconds:.1f} s" if record.seconds is not None else ""
    table.add_row(str(record.round), "[bold]all (fused)[/bold]", *[""] * len(local_names),
                  *[_number(record.fused.get(n)) for n in fused_names], seconds, end_section=True)


def _megabytes(count: int) -> str:
    return f"{count / 1e6:.2f} MB"


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else ""
