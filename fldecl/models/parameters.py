"""A model's trainable state as a list of arrays: what the FL runtime flattens and encrypts.

PyTorch models give their ``state_dict`` tensors in order; Keras models their ``get_weights()``;
scikit-learn linear models give ``[coef_, intercept_]``. The framework is recognised from the object, so no framework is imported
for a model of another one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from fldecl.models.errors import ModelError

if TYPE_CHECKING:
    from numpy.typing import NDArray


class _Backend(Protocol):
    """What a framework's module (:mod:`.pytorch`, :mod:`.scikit_learn`) offers for its models' parameters."""

    def get_parameters(self, model: Any) -> list[NDArray[Any]]: ...

    def set_parameters(self, model: Any, arrays: list[NDArray[Any]]) -> None: ...


def get_parameters(model: Any) -> list[NDArray[Any]]:
    """Copies of the model's parameter arrays, in a stable order."""
    return _backend_of(model).get_parameters(model)


def set_parameters(model: Any, arrays: list[NDArray[Any]]) -> None:
    """Overwrite the model's parameters in place; count and shapes must match get_parameters."""
    _backend_of(model).set_parameters(model, arrays)


def check_shapes(expected: list[tuple[str, tuple[int, ...]]], arrays: list[NDArray[Any]]) -> None:
    """Raise a ModelError naming the first parameter whose shape differs from the model's."""
    if len(arrays) != len(expected):
        raise ModelError(f"expected {len(expected)} parameter arrays, got {len(arrays)}")
    for (name, shape), array in zip(expected, arrays, strict=False):
        if tuple(array.shape) != shape:
            raise ModelError(f"parameter {name}: expected shape {shape}, got {tuple(array.shape)}")


def _backend_of(model: Any) -> _Backend:
    if hasattr(model, "state_dict"):
        from fldecl.models import pytorch  # lazy: torch only for PyTorch models

        return pytorch
    if hasattr(model, "get_weights") and hasattr(model, "set_weights"):
        from fldecl.models import tensorflow  # lazy: TensorFlow only for Keras models

        return tensorflow
    if hasattr(model, "coef_") and hasattr(model, "intercept_"):
        from fldecl.models import scikit_learn  # lazy: scikit-learn only for its models

        return scikit_learn
    raise ModelError(
        f"no parameters can be read from a {type(model).__name__}: "
        "expected a torch module, a Keras model or a fitted scikit-learn linear model"
    )
