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
        table.add_row(obs.address + declared, obs.id, status, (obs.created_at or "")[:19])
    console.print(table)
    for obs in observed:
        rounds = obs.details.get("rounds") if obs.kind == "Training" else None
        if rounds:
            print_rounds(obs, rounds, console)


def print_rounds(obs: Observed, rounds: list[dict[str, Any]], console: Console) -> None:
    metric_names = sorted({name for r in rounds for name in r.get("fused", {})})
    table = Table(title=f"{obs.address}: rounds", show_edge=False)
    table.add_column("round", justify="right")
    table.add_column("parties")
    for name in metric_names:
        table.add_column(f"fused {name} (mean)", justify="right")
    table.add_column("bytes sent / party", justify="right")
    for r in rounds:
        fused = r.get("fused", {})
        values = [f"{fused[name]:.4f}" if isinstance(fused.get(name), (int, float)) else "" for name in metric_names]
        table.add_row(str(r.get("round")), ", ".join(r.get("parties", [])), *values, f"{r.get('bytes_per_party', '')}")
    console.print()
    console.print(table)
    if obs.details.get("plot"):
        console.print(f"Metrics plot: {obs.details['plot']}")
