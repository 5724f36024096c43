"""The plan as people read it in a terminal: summary first, then each change, Terraform style."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from fldecl.core.plan import NOOP, Plan
from fldecl.render.values import SYMBOLS, VERBS, change_lines, same_name_note

STYLES = {"create": "green", "update": "yellow", "replace": "magenta", "delete": "red", "adopt": "cyan"}


def print_plan(plan: Plan, console: Console, stack_arg: str = ".") -> None:
    """``stack_arg``: the stack directory as the user typed it, for the commands the plan suggests."""
    console.print(Text(f"Plan: {plan.summary}.", style="bold"))
    for warning in plan.warnings:
        console.print(Text(f"Warning: {warning}", style="yellow"))
    changed = [c for c in plan.changes if c.action_label != NOOP]
    if not changed:
        console.print(Text("No changes. The backend matches the manifests.", style="green"))
    for change in changed:
        label = change.action_label
        style = STYLES[label]
        console.print()
        header = f"  # {change.address} {VERBS[label]}{same_name_note(change, stack_arg)}"
        if change.current:
            header += f" (id {change.current.id}{', ' + change.current.status if change.current.status else ''})"
        console.print(Text(header, style="bold"))
        console.print(Text(f"{SYMBOLS[label]:>3} {change.address}", style=style))
        for line in change_lines(change, plan.sensitive_variables):
            console.print(Text(line, style=style if line.lstrip().startswith(("+", "-", "~")) else "dim"))
    unchanged = plan.count(NOOP)
    if unchanged:
        console.print()
        console.print(Text(f"{unchanged} resource(s) unchanged.", style="dim"))
