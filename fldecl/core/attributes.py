"""Desired attributes: a declaration's spec plus what its kind derives from it.

A provider stores and returns attributes; the plan compares them. Deriving happens here, once,
so every backend sees the same values (a model's ``content_hash``, which decides replacement,
a data split's ``fingerprint``, and the backend ``name`` of the kinds that have one).
"""

from __future__ import annotations

from typing import Any

from fldecl.core import schema
from fldecl.core.contract import NAME_ATTRIBUTE
from fldecl.core.plain import plain_copy
from fldecl.core.stack import Declaration, Stack


def desired_attributes(decl: Declaration, stack: Stack) -> dict[str, Any]:
    attributes: dict[str, Any] = plain_copy(decl.spec)
    if schema.has_backend_name(decl.kind):
        attributes.setdefault(NAME_ATTRIBUTE, decl.name)
    derive = stack.kind(decl.kind).derive
    if derive:
        derive(attributes, stack)
    return attributes


def backend_name(decl: Declaration) -> str:
    """The name the declared resource has in the backend: ``spec.name`` where its kind has one, else its manifest name."""
    return str(decl.spec.get(NAME_ATTRIBUTE, decl.name)) if schema.has_backend_name(decl.kind) else decl.name


def declared_by_backend_name(stack: Stack, kind: str, name: str) -> Declaration | None:
    """The declaration of ``kind`` whose backend name is ``name``, for a room that meets resources by their backend names."""
    return next((decl for decl in stack.declarations.values() if decl.kind == kind and backend_name(decl) == name), None)
