"""What a Model spec means, without importing any ML framework.

``plan`` calls :func:`content_hash` for every Model, so this module must stay free of torch,
scikit-learn and numpy.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path, PurePosixPath
from typing import Any

from fldecl.models.errors import ModelError

# Bump when build_zip would produce different bytes for the same spec, so that existing models
# get replaced by what the new builder makes.
BUILDER_FORMAT_VERSION = 1

_KNOWN_FRAMEWORKS = ("pytorch", "scikit-learn", "tensorflow", "xgboost")

# The seed's file name for PyTorch; scikit-learn models are plain pickles; a TensorFlow model is a
# SavedModel directory, named as in IBM's documentation. Other frameworks have no default, so their
# manifests must name the file (the Model schema requires it for them).
DEFAULT_MODEL_FILES = {"pytorch": "pytorch_sequence.pt", "scikit-learn": "model.pickle", "tensorflow": "model_architecture"}

LOCAL_FRAMEWORKS = ("pytorch", "scikit-learn", "tensorflow")
"""What the local runtime trains; every other framework trains only on WML."""

_ARCHITECTURE_DEFAULTS: dict[str, Any] = {"seed": 0}
_FRAMEWORK_DEFAULTS: dict[str, dict[str, Any]] = {
    "scikit-learn": {"params": {}},
    "tensorflow": {"compile": {"optimizer": "adam", "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}},
}


def framework_of(model_type: str) -> str:
    """The framework of a WML model type: ``pytorch-onnx_1.12`` -> ``pytorch``.

    Unknown types give their name part unchanged (``spss-modeler_18.2`` -> ``spss-modeler``).
    """
    name, separator, _version = model_type.partition("_")
    if not separator or not name:
        raise ModelError(f"model type {model_type!r} is not of the form <framework>_<version>")
    for framework in _KNOWN_FRAMEWORKS:
        if name == framework or name.startswith(framework + "-"):
            return framework
    return name


def local_training_problem(model_type: str) -> str | None:
    """Why the local runtime cannot train a model of ``model_type``, or None when it can."""
    framework = framework_of(model_type)
    if framework in LOCAL_FRAMEWORKS:
        return None
    return f"{framework} models cannot train on the local backend (supported: {', '.join(LOCAL_FRAMEWORKS)})"


def source_kind(spec: dict[str, Any]) -> str:
    """Which of ``zip_file``, ``architecture`` or ``training`` the spec's source is."""
    source = spec.get("source") or {}
    if len(source) != 1:
        raise ModelError("Model source must name exactly one of zip_file, architecture, training")
    return str(next(iter(source)))


def default_model_file(model_type: str) -> str | None:
    """The file name a model of ``model_type`` has inside its zip when its manifest names none (None: it must name one)."""
    return DEFAULT_MODEL_FILES.get(framework_of(model_type))


def model_file_of(spec: dict[str, Any]) -> str | None:
    """The file inside the zip that holds the model: the spec's, else the framework's default."""
    model_file = spec.get("model_file") or default_model_file(spec["type"])
    if model_file is not None:
        path = PurePosixPath(model_file)
        if path.is_absolute() or ".." in path.parts or str(path) == ".":
            raise ModelError(f"model_file {model_file!r} must be a relative path inside the zip")
    return model_file


def architecture_of(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec's architecture with schema defaults applied, checked against the model type."""
    architecture = {**_ARCHITECTURE_DEFAULTS, **spec["source"]["architecture"]}
    defaults = _FRAMEWORK_DEFAULTS.get(architecture["framework"], {})
    architecture = {**defaults, **architecture}
    if "compile" in defaults:
        architecture["compile"] = {**defaults["compile"], **architecture["compile"]}
    declared = framework_of(spec["type"])
    if architecture["framework"] != declared:
        raise ModelError(
            f"architecture framework {architecture['framework']!r} does not match model type "
            f"{spec['type']!r} ({declared})"
        )
    return architecture


def zip_path_of(spec: dict[str, Any], stack_dir: Path) -> Path:
    """The source zip, relative paths being relative to the stack directory."""
    return Path(stack_dir) / str(spec["source"]["zip_file"])


def content_hash(spec: dict[str, Any], stack_dir: Path) -> str | None:
    """``sha256:<hex>`` of what the model's content will be; a change means replacement.

    For a zip it is the file's hash. For an architecture it hashes the canonical JSON of what
    build_zip reads (architecture, type, model_file, builder version) rather than the built bytes,
    so ``plan`` stays cheap and never imports torch. For a training source it returns None: the
    content is known only after that training ran (Terraform's "known after apply").
    """
    kind = source_kind(spec)
    if kind == "training":
        return None
    if kind == "zip_file":
        path = zip_path_of(spec, stack_dir)
        try:
            return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as error:
            raise ModelError(f"cannot read model zip {path}: {error.strerror}") from error
    identity = {
        "architecture": architecture_of(spec),
        "type": spec["type"],
        "model_file": model_file_of(spec),
        "builder_format_version": BUILDER_FORMAT_VERSION,
    }
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
