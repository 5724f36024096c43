"""``fldecl show``: what the stack owns, and each training's rounds."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from fldecl.core.contract import Observed, RoundRecord, TrainingProgress
from fldecl.core.stack import Stack


def print_state(stack: Stack, observed: list[Observed], console: Console) -> None:
    console.print(f"Stack [bold]{stack.name}[/bold] on backend [bold]{stack.backend}[/bold], ownership tag {stack.owner_tag}")
    if not observed:
        console.print("The stack owns nothing yet. Run `fldecl apply`.")
        return
    table = Table(show_edge=False, pad_edge=False)
    for column in ("resource", "id", "status", "created"):
        table.add_column(column, overflow="fold")
    for obs in observed:
        declared = "" if obs.address in stack.declarations else " [yellow](not declared)[/yellow]"
        status = obs.status or ""
        if obs.replace_reason:
            status += f" [yellow](needs replacement: {obs.replace_reason})[/yellow]"
        table.add_row(obs.address + declared, _short_id(obs.id), status, (obs.created_at or "")[:16].replace("T", " "))
    console.print(table)
    for obs in observed:
        if obs.progress and obs.progress.rounds:
            print_rounds(obs.address, obs.progress, console)


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


def _short_id(identifier: str) -> str:
    """Ids in the table are cut to stay readable; `fldecl show --json` has them whole."""
    return identifier if len(identifier) <= 14 else identifier[:13] + "…"


def _megabytes(count: int) -> str:
    return f"{count / 1e6:.2f} MB"


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else ""
