"""The machine-readable plan, shaped like Terraform's ``resource_changes``.

The same document is what ``plan --out`` saves, so a saved plan and ``plan --json`` agree.
"""

from __future__ import annotations

from typing import Any

from fldecl import __version__
from fldecl.core.plan import PLAN_FORMAT_VERSION, NOOP, Plan, ResourceChange


def plan_document(plan: Plan) -> dict[str, Any]:
    return {
        "format_version": PLAN_FORMAT_VERSION,
        "fldecl_version": __version__,
        "summary": plan.summary,
        "counts": {label: plan.count(label) for label in ("create", "update", "replace", "delete", NOOP)},
        "stack": plan.stack_name,
        "backend": plan.backend,
        "destroy": plan.destroy,
        "targets": plan.targets,
        "replace": plan.replace,
        "manifests_digest": plan.manifests_digest,
        "state_digest": plan.state_digest,
        "resource_changes": [_change(change) for change in plan.changes],
    }


def _change(change: ResourceChange) -> dict[str, Any]:
    return {
        "address": change.address,
        "kind": change.kind,
        "name": change.name,
        "id": change.current.id if change.current else None,
        "status": change.current.status if change.current else None,
        "change": {
            "actions": change.actions,
            "before": change.before,
            "after": change.after,
            "changed_fields": [
                {"path": list(f.path), "field": f.name, "before": f.before, "after": f.after, "forces_replacement": f.forces_replacement}
                for f in change.fields
            ],
            "replace_paths": [list(f.path) for f in change.fields if f.forces_replacement] if change.is_replace else [],
        },
        "reasons": change.reasons,
    }
