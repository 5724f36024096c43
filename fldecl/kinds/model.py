"""``Model``: an initial or trained model asset. Its content hash (derived here) decides replacement."""

from __future__ import annotations

from typing import Any

from fldecl.core.diagnostics import Diagnostics
from fldecl.core.stack import Declaration, Kind, Stack
from fldecl.models.spec import content_hash


def _content_hash(attributes: dict[str, Any], stack: Stack) -> None:
    """A stored training result's content is known only after that training ran: no hash until then."""
    if "training" not in attributes["source"]:
        attributes["content_hash"] = content_hash(attributes, stack.directory)


def _architecture_fits_type(decl: Declaration, stack: Stack, diagnostics: Diagnostics) -> None:
    architecture = decl.spec["source"].get("architecture")
    if not architecture:
        return
    declared = architecture["framework"]
    if not decl.spec["type"].split("_", 1)[0].startswith(declared):
        diagnostics.error(f"type {decl.spec['type']} does not match the architecture's framework {declared}",
                          decl.locate(("type",)), "spec.type", "e.g. pytorch-onnx_1.12 for pytorch, scikit-learn_1.1 for scikit-learn")
    if declared == "scikit-learn" and architecture["estimator"] == "SGDClassifier" and not architecture.get("classes"):
        diagnostics.error("an SGDClassifier needs its classes", decl.locate(("source", "architecture")), "spec.source.architecture.classes")


def _model_file_named(decl: Declaration, stack: Stack, diagnostics: Diagnostics) -> None:
    if "model_file" not in decl.spec and "training" not in decl.spec["source"]:
        diagnostics.error("missing model_file: the file inside the zip that holds the model", decl.locate(()), "spec.model_file")


MODEL = Kind("Model", rules=(_architecture_fits_type, _model_file_named), derive=_content_hash)
