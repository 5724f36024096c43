"""Model zips in WML's layout: the model file at the zip root, built or checked, and loaded."""

from __future__ import annotations

import hashlib
import io
import pickle
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from fldecl.models import keras_build
from fldecl.models.archive import deterministic_zip, read_model_members, saved_model_directory
from fldecl.models.errors import ModelError, ModelTrustError
from fldecl.models.spec import architecture_of, content_hash, model_file_of, source_kind, zip_path_of

_TORCH_SUFFIXES = {".pt", ".pth"}
_KERAS_SUFFIXES = {".h5", ".keras"}


def build_zip(spec: dict[str, Any], stack_dir: Path) -> bytes:
    """The zip to upload for a Model spec; the same spec always gives the same bytes.

    A zip_file source is returned as is after checking it holds model_file. A training source has
    no zip until the training completed: the provider downloads that one instead.
    """
    kind = source_kind(spec)
    if kind == "training":
        raise ModelError("a Model whose source is a training has no zip before that training completed")
    model_file = model_file_of(spec)
    if kind == "zip_file":
        return _checked_source_zip(spec, stack_dir, model_file)
    architecture = architecture_of(spec)
    if model_file is None:  # not reached: the frameworks an architecture can name have a default model_file
        raise ModelError(f"model_file is required for a {architecture['framework']} architecture")
    if architecture["framework"] == "tensorflow":
        return deterministic_zip(keras_build.build_members(architecture, model_file))
    if architecture["framework"] == "pytorch":
        from fldecl.models import pytorch  # lazy: torch only for PyTorch models

        model_bytes = pytorch.serialize(pytorch.build_sequential(architecture), model_file)
    else:
        from fldecl.models import scikit_learn  # lazy: scikit-learn only for its models

        model_bytes = scikit_learn.serialize(scikit_learn.build_estimator(architecture))
    return deterministic_zip({model_file: model_bytes})


def stored_content_hash(spec: dict[str, Any], content: bytes, stack_dir: Path) -> str:
    """The content hash of stored model bytes in the terms of ``spec``'s :func:`content_hash`.

    A zip source hashes its bytes, so stored bytes hash the same exactly when they are that zip.
    An architecture source hashes its build recipe instead: the stored bytes are compared with
    what fldecl builds from it, and have the recipe's hash only if they are those bytes. Anything
    else gets the hash of its bytes, which a plan shows as different content.
    """
    digest = "sha256:" + hashlib.sha256(content).hexdigest()
    if source_kind(spec) != "architecture":
        return digest
    try:
        built = build_zip(spec, stack_dir)
    except ModelError:
        return digest
    return str(content_hash(spec, stack_dir)) if built == content else digest


def _checked_source_zip(spec: dict[str, Any], stack_dir: Path, model_file: str | None) -> bytes:
    path = zip_path_of(spec, stack_dir)
    try:
        zip_bytes = path.read_bytes()
    except OSError as error:
        raise ModelError(f"cannot read model zip {path}: {error.strerror}") from error
    if model_file is None:
        if not zipfile.is_zipfile(io.BytesIO(zip_bytes)):
            raise ModelError(f"model zip {path} is not a valid zip file")
    else:
        read_model_members(zip_bytes, model_file, f"model zip {path}")
    return zip_bytes


def load_model(zip_bytes_or_path: bytes | str | Path, model_file: str, trusted: bool) -> Any:
    """Unpickle the model inside a zip, only if its origin is trusted.

    Unpickling runs arbitrary code, so a zip fldecl did not build itself is loaded only when the
    user marked it trusted (a Keras model too: a Lambda layer carries code). The format is
    recognised from the file: a directory (a SavedModel) or a Keras ``.h5``/``.keras`` file goes
    through Keras, a torch archive (or a .pt/.pth name) through torch.load, anything else through pickle.
    """
    if not trusted:
        raise ModelTrustError(
            f"refusing to load {model_file!r}: unpickling a model runs code from the file. If you trust "
            "this zip, set `trusted: true` in the Model spec"
        )
    if isinstance(zip_bytes_or_path, (str, Path)):
        origin = f"model zip {zip_bytes_or_path}"
        try:
            zip_bytes = Path(zip_bytes_or_path).read_bytes()
        except OSError as error:
            raise ModelError(f"cannot read {origin}: {error.strerror}") from error
    else:
        origin, zip_bytes = "model zip", zip_bytes_or_path
    members = read_model_members(zip_bytes, model_file, origin)
    if model_file not in members or PurePosixPath(model_file).suffix in _KERAS_SUFFIXES or saved_model_directory(model_file) is not None:
        return _load_keras(members, model_file)
    model_bytes = members[model_file]
    try:
        if zipfile.is_zipfile(io.BytesIO(model_bytes)) or PurePosixPath(model_file).suffix in _TORCH_SUFFIXES:
            from fldecl.models import pytorch  # lazy: torch only for PyTorch models

            return pytorch.deserialize(model_bytes)
        return pickle.loads(model_bytes)
    except ModuleNotFoundError as error:
        raise ModelError(f"loading {model_file!r} needs the Python package {error.name!r}") from error
    except (pickle.UnpicklingError, EOFError, RuntimeError) as error:
        raise ModelError(f"{model_file!r} in {origin} is not a loadable model: {error}") from error


def _load_keras(members: dict[str, bytes], model_file: str) -> Any:
    try:
        from fldecl.models import tensorflow  # lazy: TensorFlow only for its models
    except ModuleNotFoundError as error:
        raise ModelError(f"loading {model_file!r} needs the Python package {error.name!r}") from error
    return tensorflow.load(members, model_file)
