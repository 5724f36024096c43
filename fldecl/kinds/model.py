"""``Model``: an initial or trained model asset. Its content hash (derived here) decides replacement."""

from __future__ import annotations

from typing import Any

from fldecl.core.diagnostics import Diagnostics
from fldecl.core.stack import Declaration, Kind, Stack
from fldecl.models import ModelError, content_hash, model_file_of, zip_member_problem


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


def _zip_holds_the_model_file(decl: Declaration, stack: Stack, diagnostics: Diagnostics) -> None:
    """The model file must be a path inside the zip, and the user's zip must hold it: both known before anything is stored."""
    try:
        model_file = model_file_of(decl.spec)
    except ModelError as exc:
        diagnostics.error(str(exc), decl.locate(("model_file",)), "spec.model_file")
        return
    zip_file = decl.spec["source"].get("zip_file")
    path = stack.inside(zip_file) if zip_file else None
    if path is None or not path.is_file() or model_file is None:
        return  # another source, a path the generic rules report, or no model_file where the schema requires one
    problem = zip_member_problem(path, model_file)
    if problem:
        field = ("model_file",) if "model_file" in decl.spec else ("source", "zip_file")
        diagnostics.error(problem.replace(str(path), zip_file), decl.locate(field), "spec." + ".".join(field))


MODEL = Kind("Model", rules=(_architecture_fits_type, _zip_holds_the_model_file), derive=_content_hash)
