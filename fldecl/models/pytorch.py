"""PyTorch models: build a Sequential from a layer list, (de)serialize it, read/write its weights.

Importing this module imports torch; the package imports it only inside functions that need it.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from fldecl.models.errors import ModelError
from fldecl.models.parameters import check_shapes

_LAYER_TYPES = {
    name: getattr(torch.nn, name)
    for name in (
        "Flatten", "Linear", "ReLU", "Sigmoid", "Tanh", "Dropout",
        "LogSoftmax", "Softmax", "Conv2d", "MaxPool2d",
    )
}


def build_sequential(architecture: dict[str, Any]) -> torch.nn.Sequential:
    """A Sequential whose initial weights depend only on the architecture (and its seed).

    The global RNG is forked so that building does not disturb the caller's random state.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(architecture["seed"])
        return torch.nn.Sequential(*(_layer(index, layer) for index, layer in enumerate(architecture["layers"])))


def _layer(index: int, layer: dict[str, Any]) -> torch.nn.Module:
    layer_type = layer["type"]
    if layer_type not in _LAYER_TYPES:
        raise ModelError(f"layer {index}: unsupported type {layer_type!r} (supported: {', '.join(_LAYER_TYPES)})")
    # YAML gives lists where torch expects tuples (kernel_size: [3, 3]).
    kwargs = {key: tuple(value) if isinstance(value, list) else value for key, value in layer.items() if key != "type"}
    try:
        module: torch.nn.Module = _LAYER_TYPES[layer_type](**kwargs)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ModelError(f"layer {index} ({layer_type}): {error}") from error
    return module


def serialize(model: torch.nn.Module, model_file: str) -> bytes:
    """``torch.save`` of the whole module, as the seed does, to a file named like ``model_file``.

    Saving through a real file name keeps torch's inner record prefix identical to the seed's.
    """
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / PurePosixPath(model_file).name
        try:
            torch.save(model, path)
        except (OSError, RuntimeError) as exc:  # torch reports a failed write (a full disk) as a RuntimeError
            raise ModelError(f"cannot write the model to a temporary file in {directory}: {exc}") from exc
        return path.read_bytes()


def deserialize(data: bytes) -> torch.nn.Module:
    """Unpickle a whole module; callers must have checked that the bytes are trusted."""
    module: torch.nn.Module = torch.load(io.BytesIO(data), weights_only=False)
    return module


def get_parameters(model: torch.nn.Module) -> list[NDArray[Any]]:
    return [tensor.detach().cpu().numpy().copy() for tensor in model.state_dict().values()]


def set_parameters(model: torch.nn.Module, arrays: list[NDArray[Any]]) -> None:
    current = model.state_dict()
    arrays = [np.asarray(array) for array in arrays]
    check_shapes([(name, tuple(tensor.shape)) for name, tensor in current.items()], arrays)
    model.load_state_dict(
        {name: torch.as_tensor(array, dtype=tensor.dtype) for (name, tensor), array in zip(current.items(), arrays, strict=False)}
    )
