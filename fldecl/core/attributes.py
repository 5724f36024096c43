"""Desired attributes: a declaration's spec plus what is derived from it.

A provider stores and returns attributes; the plan compares them. Deriving happens here, once,
so both backends see the same values: a model's ``content_hash`` (which decides replacement) and
a data split's ``fingerprint``.
"""

from __future__ import annotations

import copy
from typing import Any

from fldecl.core.manifest import Declaration, Stack

DEFAULT_CIPHER_SPEC = "encryption_level_1"


def desired_attributes(decl: Declaration, stack: Stack) -> dict[str, Any]:
    attributes = copy.deepcopy(decl.spec)
    derive = _DERIVED.get(decl.kind)
    if derive:
        derive(attributes, stack)
    return attributes


def _model(attributes: dict[str, Any], stack: Stack) -> None:
    if "training" in attributes["source"]:
        return
    from fldecl.models import content_hash

    attributes["content_hash"] = content_hash(attributes, stack.directory)


def _data_split(attributes: dict[str, Any], stack: Stack) -> None:
    from fldecl.data import split_fingerprint

    attributes["fingerprint"] = split_fingerprint(attributes, stack.directory)


def _training(attributes: dict[str, Any], stack: Stack) -> None:
    if attributes["fusion_type"] == "crypto_iter_avg":
        attributes.setdefault("crypto", {}).setdefault("cipher_spec", DEFAULT_CIPHER_SPEC)


_DERIVED = {"Model": _model, "DataSplit": _data_split, "Training": _training}
