"""TensorFlow (Keras) models: build a compiled Sequential from a layer list, save and load it in WML's layout.

WML's TensorFlow model types hold a Keras model in the SavedModel format, in a directory of the
zip (IBM's documentation calls it ``model_architecture``); IBM's party runtime
(``TensorFlowFLModel``) loads that directory with ``tf.keras.models.load_model`` and trains the
model as compiled. A zip the user supplies may instead hold a single Keras ``.h5`` or ``.keras``
file, which the same loader reads.

Importing this module imports TensorFlow; the package imports it only inside functions that need it.
:func:`_build_main` is the builder process of :mod:`fldecl.models.keras_build`.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up log (CUDA probes on a CPU machine) is noise here

import numpy as np
import tensorflow as tf
from numpy.typing import NDArray

from fldecl.models.archive import SAVED_MODEL_FILE, model_directory
from fldecl.models.errors import ModelError
from fldecl.models.keras_build import read_tree
from fldecl.models.parameters import check_shapes

LAYER_TYPES = ("Flatten", "Dense", "Dropout", "Conv2D", "MaxPooling2D", "AveragePooling2D", "Activation", "Reshape")
SINGLE_FILE_SUFFIXES = (".h5", ".keras")


def _build_main() -> None:
    """The builder process: read ``{architecture, directory}`` as JSON, save the model under ``directory/model``."""
    request = json.load(sys.stdin)
    try:
        model = build_sequential(request["architecture"])
        model.save(str(Path(request["directory"]) / "model"), save_format="tf")
    except ModelError as error:
        print(str(error), file=sys.stderr)
        raise SystemExit(1) from error


def build_sequential(architecture: dict[str, Any]) -> Any:
    """A compiled Sequential whose names and initial weights depend only on the architecture (and its seed)."""
    tf.keras.backend.clear_session()
    tf.keras.utils.set_random_seed(architecture["seed"])
    layers = [tf.keras.layers.Input(shape=tuple(architecture["input_shape"]), name="input")]
    layers += [_layer(index, layer) for index, layer in enumerate(architecture["layers"])]
    model = tf.keras.Sequential(layers, name="sequential")
    settings = architecture["compile"]
    optimizer = _optimizer(settings["optimizer"], settings.get("learning_rate"))
    try:
        model.compile(optimizer=optimizer, loss=settings["loss"], metrics=list(settings.get("metrics") or []))
    except ValueError as error:
        raise ModelError(f"compile: {error}") from error
    return model


def _layer(index: int, layer: dict[str, Any]) -> Any:
    layer_type = layer["type"]
    if layer_type not in LAYER_TYPES:
        raise ModelError(f"layer {index}: unsupported type {layer_type!r} (supported: {', '.join(LAYER_TYPES)})")
    kwargs = {key: tuple(value) if isinstance(value, list) else value for key, value in layer.items() if key != "type"}
    try:
        return getattr(tf.keras.layers, layer_type)(name=f"layer_{index}", **kwargs)
    except (TypeError, ValueError) as error:
        raise ModelError(f"layer {index} ({layer_type}): {error}") from error


def _optimizer(name: str, learning_rate: float | None) -> Any:
    try:
        optimizer = tf.keras.optimizers.get(name)
    except ValueError as error:
        raise ModelError(f"optimizer {name!r}: {error}") from error
    if learning_rate is not None:
        optimizer.learning_rate = learning_rate
    return optimizer


def model_members(model: Any, model_file: str) -> dict[str, bytes]:
    """The zip members that hold ``model`` in the layout of ``model_file``: a SavedModel directory or one Keras file."""
    with tempfile.TemporaryDirectory(prefix="fldecl-tf-") as directory:
        if PurePosixPath(model_file).suffix in SINGLE_FILE_SUFFIXES:
            path = Path(directory) / PurePosixPath(model_file).name
            model.save(str(path))
            return {model_file: path.read_bytes()}
        model.save(str(Path(directory) / "model"), save_format="tf")
        return read_tree(Path(directory) / "model", model_directory(model_file))


def load(members: dict[str, bytes], model_file: str) -> Any:
    """Load a Keras model from its zip members; callers must have checked that they are trusted (a Lambda layer runs code)."""
    with tempfile.TemporaryDirectory(prefix="fldecl-tf-") as directory:
        root = Path(directory)
        for name, data in members.items():
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        path = root / model_directory(model_file) if PurePosixPath(model_file).suffix not in SINGLE_FILE_SUFFIXES else root / model_file
        if path.is_dir() and not (path / SAVED_MODEL_FILE).is_file():
            raise ModelError(f"{model_file!r} is not a SavedModel directory: it has no {SAVED_MODEL_FILE}")
        try:
            return tf.keras.models.load_model(str(path))
        except (OSError, ValueError, ImportError) as error:
            raise ModelError(f"{model_file!r} is not a loadable Keras model: {error}") from error


def get_parameters(model: Any) -> list[NDArray[Any]]:
    return [np.array(array, copy=True) for array in model.get_weights()]


def set_parameters(model: Any, arrays: list[NDArray[Any]]) -> None:
    current = model.get_weights()
    arrays = [np.asarray(array) for array in arrays]
    check_shapes([(f"weight {index}", tuple(array.shape)) for index, array in enumerate(current)], arrays)
    model.set_weights([array.astype(existing.dtype, copy=False) for existing, array in zip(current, arrays, strict=True)])
