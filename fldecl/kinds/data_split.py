"""``DataSplit``: the seed's party-data step. Its fingerprint (derived here) decides replacement."""

from __future__ import annotations

from typing import Any

from fldecl.core.diagnostics import Diagnostics
from fldecl.core.stack import Declaration, Kind, Stack
from fldecl.data.spec import split_fingerprint


def _fingerprint(attributes: dict[str, Any], stack: Stack) -> None:
    attributes["fingerprint"] = split_fingerprint(attributes, stack.directory)


def _output_per_party(decl: Declaration, stack: Stack, diagnostics: Diagnostics) -> None:
    if "{index}" not in decl.spec["output"]:
        diagnostics.error("output must contain {index}", decl.locate(("output",)), "spec.output")


DATA_SPLIT = Kind("DataSplit", rules=(_output_per_party,), derive=_fingerprint)
