"""The plan as a pull-request comment: summary line first, a loud warning for destruction, details folded."""

from __future__ import annotations

from fldecl.core.plan import NOOP, Plan
from fldecl.render.values import SYMBOLS, VERBS, change_lines, same_name_note


def plan_markdown(plan: Plan, stack_arg: str = ".") -> str:
    """``stack_arg``: the stack directory as the user typed it, for the commands the plan suggests."""
    lines = [f"**Plan: {plan.summary}** (stack `{plan.stack_name}`, backend `{plan.backend}`)", ""]
    for warning in plan.warnings:
        lines += ["> [!WARNING]", f"> {warning}", ""]
    destructive = [c for c in plan.changes if "delete" in c.actions]
    if destructive:
        lines += ["> [!CAUTION]", f"> **This plan deletes or replaces {len(destructive)} resource(s):**"]
        lines += [f"> - `{c.address}` ({c.action_label}: {'; '.join(c.reasons)})" for c in destructive]
        lines.append("")
    changed = [c for c in plan.changes if c.action_label != NOOP]
    if not changed:
        lines.append("No changes. The backend matches the manifests.")
    else:
        lines += ["<details><summary>Changes</summary>", "", "```diff"]
        for change in changed:
            label = change.action_label
            lines.append(f"# {change.address} {VERBS[label]}{same_name_note(change, stack_arg)}")
            lines.append(f"{SYMBOLS[label]} {change.address}")
            lines += [_diff_marked(line) for line in change_lines(change, plan.sensitive_variables)]
            lines.append("")
        lines += ["```", "", "</details>"]
    if plan.count(NOOP):
        lines += ["", f"{plan.count(NOOP)} resource(s) unchanged."]
    return "\n".join(lines) + "\n"


def _diff_marked(line: str) -> str:
    """An indented ``+``/``-``/``~`` line with its mark also in the first column, where GitHub's ``diff``
    highlighting looks for it (``!`` for a change in place)."""
    mark = {"+": "+", "-": "-", "~": "!"}.get(line.lstrip()[:1])
    return mark + line[1:] if mark and line.startswith(" ") else line
