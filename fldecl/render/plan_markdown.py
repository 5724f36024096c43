"""The plan as a pull-request comment: summary line first, a loud warning for destruction, details folded."""

from __future__ import annotations

from fldecl.core.plan import NOOP, Plan
from fldecl.render.values import SYMBOLS, VERBS, change_lines, same_name_note


def plan_markdown(plan: Plan, stack_arg: str = ".") -> str:
    """``stack_arg``: the stack directory as the user typed it, for the commands the plan suggests."""
    lines = [f"**Plan: {plan.summary}** (stack `{plan.stack_name}`, backend `{plan.backend}`)", ""]
    destructive = [c for c in plan.changes if "delete" in c.actions]
    if destructive:
        lines += ["> [!CAUTION]", f"> **This plan deletes or replaces {len(destructive)} resource(s):**"]
        lines += [f"> - `{c.address}` ({c.action_label}: {'; '.join(c.reasons)})" for c in destructive]
        lines.append("")
    changed = [c for c in plan.changes if not c.is_noop]
    if not changed:
        lines.append("No changes. The backend matches the manifests.")
    else:
        lines += ["<details><summary>Changes</summary>", "", "```diff"]
        for change in changed:
            label = change.action_label
            lines.append(f"# {change.address} {VERBS[label]}{same_name_note(change, stack_arg)}")
            lines.append(f"{SYMBOLS[label]} {change.address}")
            lines += change_lines(change, plan.sensitive_variables)
            lines.append("")
        lines += ["```", "", "</details>"]
    if plan.count(NOOP):
        lines += ["", f"{plan.count(NOOP)} resource(s) unchanged."]
    return "\n".join(lines) + "\n"
