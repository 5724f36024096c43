"""Saved plans: ``plan --out FILE`` then ``apply FILE`` applies exactly what was reviewed.

The file holds the plan document and the digests of the manifests and of the backend state it
was made from. Applying re-plans with the same options and refuses if either digest, or the
resulting changes, differ: a stale plan is never applied.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fldecl.core.plan import PLAN_FORMAT_VERSION, Plan, PlanError


def save(plan: Plan, stack_dir: Path, path: Path) -> None:
    from fldecl.render.plan_json import plan_document

    document = plan_document(plan)
    document["stack_dir"] = str(stack_dir.resolve())
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")


def load_saved(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise PlanError(f"{path} is not a plan saved by `fldecl plan --out` (to apply a stack, give its directory)") from exc
    if not isinstance(document, dict) or document.get("format_version") != PLAN_FORMAT_VERSION or "stack_dir" not in document:
        raise PlanError(f"{path} is not a plan saved by `fldecl plan --out` (format {PLAN_FORMAT_VERSION})")
    return document


def check_fresh(saved: dict[str, Any], fresh: Plan) -> None:
    if saved["manifests_digest"] != fresh.manifests_digest:
        raise PlanError("the saved plan is stale: the manifests changed since it was made; run `fldecl plan --out` again")
    if saved["state_digest"] != fresh.state_digest:
        raise PlanError("the saved plan is stale: the backend changed since it was made; run `fldecl plan --out` again")
    planned = [(c["address"], c["change"]["actions"]) for c in saved["resource_changes"]]
    if planned != [(c.address, c.actions) for c in fresh.changes]:
        raise PlanError("the saved plan no longer matches what would be done; run `fldecl plan --out` again")
