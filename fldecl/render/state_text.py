"""``fldecl show``: what the stack owns, and each training's rounds."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from fldecl.providers.base import Observed


def print_state(stack: Any, observed: list[Observed], console: Console) -> None:
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
        rounds = obs.details.get("rounds") if obs.kind == "Training" else None
        if rounds:
            print_rounds(obs, rounds, console)


def print_rounds(obs: Observed, rounds: list[dict[str, Any]], console: Console) -> None:
    """One row per round and party: its local training metrics, the fused model on its test data, bytes sent."""
    local_names = sorted({k for r in rounds for p in r.get("parties", {}).values() for k in p
                          if isinstance(p[k], (int, float)) and not k.startswith(("fused_", "bytes_", "test_")) and k != "contributed"})
    fused_names = sorted({k for r in rounds for k in r.get("fused", {})})
    table = Table(title=f"{obs.address}: rounds", show_edge=False)
    local_titles = [n if n.startswith("local_") else f"local_{n}" for n in local_names]
    for column in ["round", "party", *local_titles, *[f"fused_{n}" for n in fused_names], "sent"]:
        table.add_column(column, justify="left" if column == "party" else "right")
    for r in rounds:
        for party, values in sorted(r.get("parties", {}).items()):
            cells = [_number(values.get(n)) for n in local_names] + [_number(values.get(f"fused_{n}")) for n in fused_names]
            party_label = party if values.get("contributed", True) else f"{party} (no update)"
            table.add_row(str(r["round"]), party_label, *cells, _megabytes(values.get("bytes_sent", 0)))
        table.add_row(str(r["round"]), "[bold]all (fused)[/bold]", *[""] * len(local_names),
                      *[_number(r.get("fused", {}).get(n)) for n in fused_names], f"{r.get('seconds', 0):.1f} s", end_section=True)
    console.print()
    console.print(table)
    if obs.details.get("plot"):
        console.print(f"Metrics plot: {obs.details['plot']}")


def _short_id(identifier: str) -> str:
    """Ids in the table are cut to stay readable; `fldecl show --json` has them whole."""
    return identifier if len(identifier) <= 14 else identifier[:13] + "…"


def _megabytes(count: int) -> str:
    return f"{count / 1e6:.2f} MB"


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else ""
