"""Desired attributes: a declaration's spec plus what its kind derives from it.

A provider stores and returns attributes; the plan compares them. Deriving happens here, once,
so every backend sees the same values (a model's ``content_hash``, which decides replacement,
a data split's ``fingerprint``).
"""

from __future__ import annotations

import copy
from typing import Any

from fldecl.core.stack import Declaration, Stack


def desired_attributes(decl: Declaration, stack: Stack) -> dict[str, Any]:
    attributes = copy.deepcopy(decl.spec)
    derive = stack.kind(decl.kind).derive
    if derive:
        derive(attributes, stack)
    return attributes
