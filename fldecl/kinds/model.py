"""``Model``: an initial or trained model asset. Its content hash (derived here) decides replacement."""

from __future__ import annotations

from typing import Any

from fldecl import models
from fldecl.core.diagnostics import Diagnostics
from fldecl.core.stack import Declaration, GeneratedSpec, Kind, Stack
from fldecl.models import ModelError, content_hash, default_model_file, model_file_of


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
    problem = models.zip_member_problem(path, model_file)  # zipfile is imported only for a model given as a zip
    if problem:
        field = ("model_file",) if "model_file" in decl.spec else ("source", "zip_file")
        diagnostics.error(problem.replace(str(path), zip_file), decl.locate(field), "spec." + ".".join(field))


def _from_backend(spec: dict[str, Any], name: str, content: bytes | None) -> GeneratedSpec:
    """A model found in a backend: its stored content becomes the zip its manifest names, beside the manifest.

    A model fldecl made from a declared architecture, or stored from a training, keeps that source.
    """
    source = spec.get("source") or {}
    if "architecture" in source or "training" in source:
        return GeneratedSpec(spec)
    if content is None:
        return GeneratedSpec(spec, why="the backend holds no content for it")
    zip_file = f"models/{name}.zip"
    members = models.zip_members(content)
    spec = {**spec, "source": {"zip_file": zip_file}}
    if "model_file" not in spec:
        default = default_model_file(spec["type"])
        held = default is not None and models.holds_model_file(members, default)
        if not held and len(members) != 1:
            return GeneratedSpec(spec, why=f"its zip holds {', '.join(members) or 'nothing'}; say which file is the model with model_file")
        spec["model_file"] = default if held else members[0]
    return GeneratedSpec(spec, {zip_file: content})


MODEL = Kind("Model", rules=(_architecture_fits_type, _zip_holds_the_model_file), derive=_content_hash, from_backend=_from_backend)
