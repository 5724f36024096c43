"""Semantic rules that a schema cannot express: references, cycles, paths, and WML's own limits.

Every rule adds diagnostics with the declaration's file, line and field; none stops the others.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fldecl.core import schema
from fldecl.core.diagnostics import Diagnostics
from fldecl.core.graph import Graph, references
from fldecl.core.manifest import Declaration, Stack
from fldecl.core.yaml_source import format_path

HE_FUSION = "crypto_iter_avg"
#: Inputs the user provides, which must exist before a plan makes sense.
_INPUT_FILES = {
    "Model": [("source", "zip_file")],
    "RemoteTrainingSystem": [("party", "data_handler", "path")],
    "DataSplit": [("source", "npz_file")],
    "PartyCertificate": [("csr_file",)],
}


def check(stack: Stack, diagnostics: Diagnostics) -> None:
    for decl in stack.declarations.values():
        for rule in _RULES.get(decl.kind, []) + [_paths_inside_stack, _no_computed_fields]:
            try:
                rule(decl, stack, diagnostics)
            except (KeyError, TypeError, AttributeError):
                pass  # the document broke its schema in a way already reported; this rule cannot judge it
    _references(stack, diagnostics)
    _cycles(stack, diagnostics)
    _files_written_once(stack, diagnostics)


def dependency_graph(stack: Stack) -> Graph:
    return Graph({
        address: {ref.target for ref in references(d.kind, d.name, d.spec) if ref.target in stack.declarations}
        for address, d in stack.declarations.items()
    })


def _references(stack: Stack, diagnostics: Diagnostics) -> None:
    for decl in stack.declarations.values():
        for ref in references(decl.kind, decl.name, decl.spec):
            if ref.target not in stack.declarations:
                kind, name = ref.target.split("/", 1)
                same_kind = sorted(d.name for d in stack.declarations.values() if d.kind == kind)
                detail = f"declared {kind} names: {', '.join(same_kind)}" if same_kind else f"no {kind} is declared"
                diagnostics.error(f"reference to {ref.target}, which is not declared", decl.locate(ref.path), format_path(("spec",) + ref.path), detail)


def _cycles(stack: Stack, diagnostics: Diagnostics) -> None:
    cycle = dependency_graph(stack).cycle()
    if cycle:
        first = stack.declarations[cycle[0]]
        diagnostics.error("dependency cycle: " + " -> ".join(cycle), first.locate(), "spec")


def _paths_inside_stack(decl: Declaration, stack: Stack, diagnostics: Diagnostics) -> None:
    root = stack.directory.resolve()
    for field in schema.annotated_fields(decl.kind, "x-fldecl-path"):
        for path, value in schema.values_at(decl.spec, field.path):
            if not isinstance(value, str):
                continue
            resolved = (root / value).resolve()
            if Path(value).is_absolute() or not resolved.is_relative_to(root):
                diagnostics.error(f"path {value!r} leaves the stack directory", decl.locate(path), format_path(("spec",) + path),
                                  "paths are relative to the stack directory and must stay inside it")
            elif path in _INPUT_FILES.get(decl.kind, []) and not resolved.is_file():
                diagnostics.error(f"file {value!r} does not exist", decl.locate(path), format_path(("spec",) + path))


def _no_computed_fields(decl: Declaration, stack: Stack, diagnostics: Diagnostics) -> None:
    for field in schema.annotated_fields(decl.kind, "readOnly"):
        for path, _ in schema.values_at(decl.spec, field.path):
            diagnostics.error(f"{format_path(path)} is computed by fldecl and cannot be set", decl.locate(path),
                              format_path(("spec",) + path), "remove it from the manifest")


def _files_written_once(stack: Stack, diagnostics: Diagnostics) -> None:
    writers: dict[Path, str] = {}
    for decl in stack.declarations.values():
        for key in ("key_file", "cert_file", "output"):
            value = decl.spec.get(key)
            if not isinstance(value, str):
                continue
            target = (stack.directory / value).resolve()
            if target in writers:
                diagnostics.error(f"{value!r} is also written by {writers[target]}", decl.locate((key,)), f"spec.{key}")
            writers[target] = decl.address


def _training(decl: Declaration, stack: Stack, diagnostics: Diagnostics) -> None:
    spec = decl.spec
    fusion = spec["fusion_type"]
    if "crypto" in spec and fusion != HE_FUSION:
        reason = {
            "avg": "homomorphic encryption supports only simple averaging; weighted average (avg) cannot be encrypted",
            "xgb_classifier": "XGBoost fusion is not supported with homomorphic encryption",
            "xgb_regressor": "XGBoost fusion is not supported with homomorphic encryption",
        }.get(fusion, f"crypto applies only to fusion_type {HE_FUSION}")
        diagnostics.error(reason, decl.locate(("crypto",)), "spec.crypto", f"use fusion_type: {HE_FUSION}, or remove crypto")
    model = stack.declarations.get(f"Model/{spec['model']}")
    if model:
        framework = model.spec["type"].split("_", 1)[0]
        if fusion == HE_FUSION and framework.startswith("xgboost"):
            diagnostics.error("XGBoost models cannot be trained with homomorphic encryption (crypto_iter_avg)",
                              decl.locate(("model",)), "spec.model", "WML supports HE for PyTorch, TensorFlow and scikit-learn")
        if fusion.startswith("xgb_") and not framework.startswith("xgboost"):
            diagnostics.error(f"fusion_type {fusion} needs an XGBoost model, but {model.address} is {model.spec['type']}",
                              decl.locate(("fusion_type",)), "spec.fusion_type")
    systems = spec["remote_training"]["remote_training_systems"]
    seen: set[str] = set()
    for i, item in enumerate(systems):
        if item["name"] in seen:
            diagnostics.error(f"party {item['name']} is listed twice", decl.locate(("remote_training", "remote_training_systems", i)),
                              f"spec.remote_training.remote_training_systems[{i}]")
        seen.add(item["name"])


def _model(decl: Declaration, stack: Stack, diagnostics: Diagnostics) -> None:
    source = decl.spec["source"]
    framework = decl.spec["type"].split("_", 1)[0]
    architecture = source.get("architecture")
    if architecture:
        declared = architecture["framework"]
        if not framework.startswith(declared):
            diagnostics.error(f"type {decl.spec['type']} does not match the architecture's framework {declared}",
                              decl.locate(("type",)), "spec.type", "e.g. pytorch-onnx_1.12 for pytorch, scikit-learn_1.1 for scikit-learn")
        if declared == "scikit-learn" and architecture["estimator"] == "SGDClassifier" and not architecture.get("classes"):
            diagnostics.error("an SGDClassifier needs its classes", decl.locate(("source", "architecture")), "spec.source.architecture.classes")
    if "model_file" not in decl.spec and "training" not in source:
        diagnostics.error("missing model_file: the file inside the zip that holds the model", decl.locate(()), "spec.model_file")


def _party_certificate(decl: Declaration, stack: Stack, diagnostics: Diagnostics) -> None:
    if "key_file" in decl.spec and "subject" not in decl.spec:
        diagnostics.error("missing subject: a certificate fldecl generates a key for needs a subject", decl.locate(()), "spec.subject")
    if decl.spec["renew_before_days"] >= decl.spec["validity_days"]:
        diagnostics.error("renew_before_days must be shorter than validity_days, or every plan renews",
                          decl.locate(("renew_before_days",)), "spec.renew_before_days")


def _data_split(decl: Declaration, stack: Stack, diagnostics: Diagnostics) -> None:
    if "{index}" not in decl.spec["output"]:
        diagnostics.error("output must contain {index}", decl.locate(("output",)), "spec.output")


_RULES: dict[str, list[Callable[[Declaration, Stack, Diagnostics], None]]] = {
    "Training": [_training],
    "Model": [_model],
    "PartyCertificate": [_party_certificate],
    "CertificateAuthority": [_party_certificate],
    "DataSplit": [_data_split],
}
