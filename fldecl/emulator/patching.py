"""JSON Patch (RFC 6902 ``add``/``replace``/``remove``) as WML applies it to a resource.

The client addresses ``/name``, ``/description`` and ``/tags`` although WML keeps them in
``metadata``; everything else lives in ``entity``. Each resource kind lists what it lets change.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from fldecl.emulator.routing import ApiError
from fldecl.emulator.state import Document

METADATA_FIELDS = frozenset({"name", "description", "tags"})


def _invalid(message: str) -> ApiError:
    return ApiError(400, "invalid_patch", message)


def _apply(target: dict[str, Any], segments: list[str], operation: dict[str, Any]) -> None:
    for segment in segments[:-1]:
        child = target.get(segment)
        if not isinstance(child, dict):
            if operation["op"] != "add":
                raise _invalid(f"Path '{operation['path']}' does not exist.")
            child = target[segment] = {}
        target = child
    leaf, op = segments[-1], operation["op"]
    if op in ("replace", "remove") and leaf not in target:
        raise _invalid(f"Path '{operation['path']}' does not exist.")
    if op == "remove":
        del target[leaf]
        return
    if "value" not in operation:
        raise _invalid(f"Operation '{op}' on '{operation['path']}' needs a value.")
    target[leaf] = operation["value"]


def apply_patch(document: Document, operations: Any, patchable: Collection[str]) -> None:
    """Apply ``operations`` in place; ``patchable`` names the top-level fields that may change."""
    if not isinstance(operations, list) or not operations:
        raise _invalid("The request body must be a non-empty JSON Patch array.")
    for operation in operations:
        if not isinstance(operation, dict) or operation.get("op") not in ("add", "replace", "remove"):
            raise _invalid("Each patch operation needs an 'op' of add, replace or remove.")
        path = str(operation.get("path", ""))
        segments = [segment.replace("~1", "/").replace("~0", "~") for segment in path.split("/")[1:]]
        if not path.startswith("/") or not segments or segments[0] not in patchable:
            raise _invalid(f"Path '{path}' cannot be patched; allowed: {', '.join(sorted(patchable))}.")
        section = "metadata" if segments[0] in METADATA_FIELDS else "entity"
        _apply(document[section], segments, operation)
