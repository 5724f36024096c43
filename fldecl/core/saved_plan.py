"""Plan documents and saved plans: ``plan --out FILE`` then ``apply FILE`` applies exactly what was reviewed.

The plan document, shaped like Terraform's ``resource_changes``, is both what ``plan --json``
prints and what a saved plan holds, together with the digests of the manifests and of the
backend state it was made from. Applying re-plans with the same options and refuses if either
digest, or the resulting changes, differ: a stale plan is never applied.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from fldecl import __version__
from fldecl.core.errors import PlanError
from fldecl.core.plan import NOOP, PLAN_FORMAT_VERSION, Plan, ResourceChange
from fldecl.core.stack import owner_of
from fldecl.variables import masked


def plan_document(plan: Plan) -> dict[str, Any]:
    return {
        "format_version": PLAN_FORMAT_VERSION,
        "fldecl_version": __version__,
        "summary": plan.summary,
        "counts": {label: plan.count(label) for label in ("create", "update", "replace", "delete", "adopt", NOOP)},
        "warnings": plan.warnings,
        "stack": plan.stack_name,
        "backend": plan.backend,
        "destroy": plan.destroy,
        "targets": plan.targets,
        "replace": plan.replace,
        "manifests_digest": plan.manifests_digest,
        "state_digest": plan.state_digest,
        "resource_digests": plan.resource_digests,
        "resource_changes": [_change(change, plan.sensitive_variables) for change in plan.changes],
    }


def _change(change: ResourceChange, sensitive: list[str]) -> dict[str, Any]:
    """One change; values that refer to a sensitive variable show as ``(sensitive value)``."""
    document: dict[str, Any] = masked({
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
        "adopted": change.adopted or None,
        "parts": [{"action": part.action, "part": part.part, "reason": part.reason} for part in change.parts],
        "same_name_unowned": [{"id": found.id, "name": found.name, "owner": owner_of(found.tags)} for found in change.same_name],
    }, sensitive)
    return document


def saved_text(plan: Plan, stack_dir: Path) -> str:
    """What ``plan --out`` writes: the plan document, the stack it was made for, and a seal over both."""
    document = plan_document(plan)
    document["stack_dir"] = str(stack_dir.resolve())
    document["seal"] = _seal(document)
    return json.dumps(document, indent=2, default=str) + "\n"


def _seal(document: dict[str, Any]) -> str:
    """The digest of the document without its seal: an edited plan file is told apart from a stale one."""
    content = {key: value for key, value in document.items() if key != "seal"}
    return "sha256:" + hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def load_saved(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise PlanError(f"{path} is not a plan saved by `fldecl plan --out` (to apply a stack, give its directory)") from exc
    if not isinstance(document, dict) or document.get("format_version") != PLAN_FORMAT_VERSION or "stack_dir" not in document:
        raise PlanError(f"{path} is not a plan saved by `fldecl plan --out` (format {PLAN_FORMAT_VERSION})")
    if document.get("seal") != _seal(document):
        raise PlanError(f"{path} was edited after `fldecl plan --out` wrote it; a reviewed plan is applied as it was made: "
                        "run `fldecl plan --out` again")
    return document


def _changed_resources(saved: dict[str, str], fresh: dict[str, str]) -> list[str]:
    return sorted(address for address in set(saved) | set(fresh) if saved.get(address) != fresh.get(address))


def check_fresh(saved: dict[str, Any], fresh: Plan) -> None:
    if saved["manifests_digest"] != fresh.manifests_digest:
        changed = _changed_resources(saved.get("resource_digests", {}), fresh.resource_digests)
        what = f"the manifests of {', '.join(changed)} changed" if changed else "the stack's settings changed"
        raise PlanError(f"the saved plan is stale: {what} since it was made; run `fldecl plan --out` again")
    if saved["state_digest"] != fresh.state_digest:
        raise PlanError("the saved plan is stale: the backend changed since it was made; run `fldecl plan --out` again")
    planned = [(c["address"], c["change"]["actions"]) for c in saved["resource_changes"]]
    if planned != [(c.address, c.actions) for c in fresh.changes]:
        raise PlanError("the saved plan no longer matches what would be done; run `fldecl plan --out` again")
