"""Party-side model wrappers, after Flower's ``NumPyClient``: train locally, evaluate, expose weights.

A :class:`Client` knows its framework; the protocol code only moves flat float vectors. Every
random choice (batch order, dropout) is seeded from the training seed, the party and the round, so
two trainings with the same seed and data differ only by what fusion did.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from fldecl.fl.errors import ClientError
from fldecl.models import framework_of, get_parameters, local_training_problem, set_parameters

Dataset = tuple[tuple[NDArray[Any], NDArray[Any]], tuple[NDArray[Any], NDArray[Any]]]

# Loss functions a training may name; anything in torch.nn.functional would allow odd calls.
TORCH_LOSSES = {
    "nll_loss": True,
    "cross_entropy": True,
    "mse_loss": False,
    "l1_loss": False,
    "smooth_l1_loss": False,
    "huber_loss": False,
}  # name -> whether it is a classification loss
TORCH_OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop", "adagrad": "Adagrad"}
DEFAULT_LEARNING_RATE = 1e-3
KERAS_LOSSES = {
    "sparse_categorical_crossentropy": True,
    "categorical_crossentropy": True,
    "binary_crossentropy": True,
    "mean_squared_error": False,
    "mean_absolute_error": False,
}  # name -> whether it is a classification loss
KERAS_OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop", "adagrad": "Adagrad", "nadam": "Nadam"}



@dataclass
class Hyperparameters:
    """What the aggregator tells every party about local training (the training manifest's spec)."""

    epochs: int
    batch_size: int
    seed: int
    optimizer: dict[str, Any] | None
    loss: str | None
    metrics: str


class Client(ABC):
    """One party's model and data."""

    def __init__(self, model: Any, data: Dataset, hyperparameters: Hyperparameters, party: str) -> None:
        self.model = model
        (self.x_train, self.y_train), (self.x_test, self.y_test) = data
        self.hyperparameters = hyperparameters
        self.party = party
        self.shapes = [array.shape for array in get_parameters(model)]

    @property
    def size(self) -> int:
        """Number of values in the flattened parameters."""
        return int(sum(np.prod(shape, dtype=np.int64) for shape in self.shapes))

    def get_vector(self) -> NDArray[Any]:
        return np.concatenate([array.ravel() for array in get_parameters(self.model)])

    def set_vector(self, vector: NDArray[Any]) -> None:
        arrays, offset = [], 0
        for shape in self.shapes:
            count = int(np.prod(shape, dtype=np.int64))
            arrays.append(np.asarray(vector[offset : offset + count]).reshape(shape))
            offset += count
        set_parameters(self.model, arrays)

    def round_seed(self, round_number: int) -> int:
        """A seed per (training seed, party, round): reproducible, different across parties."""
        text = f"{self.hyperparameters.seed}:{self.party}:{round_number}"
        return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")

    @abstractmethod
    def fit(self, round_number: int) -> dict[str, float]:
        """Train ``epochs`` passes from the current parameters; returns local metrics."""

    @abstractmethod
    def evaluate(self) -> dict[str, float]:
        """Metrics of the current parameters on this party's test data."""

    @abstractmethod
    def model_members(self, model_file: str) -> dict[str, bytes]:
        """The zip members that hold the model (its file, or a SavedModel's directory), in the input zip's format."""


class TorchClient(Client):
    def __init__(self, model: Any, data: Dataset, hyperparameters: Hyperparameters, party: str) -> None:
        import torch

        super().__init__(model, data, hyperparameters, party)
        self.loss_name = hyperparameters.loss or _default_torch_loss(model)
        if self.loss_name not in TORCH_LOSSES:
            raise ClientError(f"loss {self.loss_name!r} is not supported (supported: {', '.join(TORCH_LOSSES)})")
        self.classification = TORCH_LOSSES[self.loss_name]
        self.loss_function = getattr(torch.nn.functional, self.loss_name)
        target_dtype = torch.int64 if self.classification else torch.float32
        self.train_tensors = (torch.as_tensor(self.x_train, dtype=torch.float32), torch.as_tensor(self.y_train, dtype=target_dtype))
        self.test_tensors = (torch.as_tensor(self.x_test, dtype=torch.float32), torch.as_tensor(self.y_test, dtype=target_dtype))

    def fit(self, round_number: int) -> dict[str, float]:
        import torch

        torch.manual_seed(self.round_seed(round_number))
        generator = torch.Generator().manual_seed(self.round_seed(round_number))
        optimizer = self._optimizer()
        x, y = self.train_tensors
        batch_size = self.hyperparameters.batch_size
        self.model.train()
        for _ in range(self.hyperparameters.epochs):
            total_loss = 0.0
            for batch in torch.split(torch.randperm(len(x), generator=generator), batch_size):
                optimizer.zero_grad()
                loss = self.loss_function(self._predict(x[batch]), y[batch])
                loss.backward()
                optimizer.step()
                total_loss += loss.item() * len(batch)
        local = self.evaluate()
        return {"train_loss": total_loss / max(len(x), 1), **{f"local_{name}": value for name, value in local.items()}}

    def evaluate(self) -> dict[str, float]:
        import torch

        x, y = self.test_tensors
        self.model.eval()
        with torch.no_grad():
            output = self._predict(x)
            metrics = {"loss": float(self.loss_function(output, y))}
        if self.classification:
            metrics["accuracy"] = float((output.argmax(dim=1) == y).float().mean())
        else:
            metrics["mse"] = float(torch.nn.functional.mse_loss(output, y))
        return metrics

    def model_members(self, model_file: str) -> dict[str, bytes]:
        from fldecl.models import pytorch  # lazy: torch only for PyTorch models

        return {model_file: pytorch.serialize(self.model, model_file)}

    def _predict(self, x: Any) -> Any:
        output = self.model(x)
        # A regression net ends in one unit per point: compare (n,) with (n,), not (n, 1).
        if not self.classification and output.ndim == 2 and output.shape[1] == 1:
            return output.squeeze(1)
        return output

    def _optimizer(self) -> Any:
        import torch

        spec = self.hyperparameters.optimizer or {"name": "adam"}
        name = str(spec["name"]).lower()
        if name not in TORCH_OPTIMIZERS:
            raise ClientError(f"optimizer {spec['name']!r} is not supported (supported: {', '.join(TORCH_OPTIMIZERS)})")
        options = {"lr": DEFAULT_LEARNING_RATE, **(spec.get("spec") or {})}
        try:
            return getattr(torch.optim, TORCH_OPTIMIZERS[name])(self.model.parameters(), **options)
        except TypeError as error:
            raise ClientError(f"optimizer {name} options {options}: {error}") from error


class SklearnClient(Client):
    """SGDClassifier / SGDRegressor: ``epochs`` passes of ``partial_fit``, fusing coef_ and intercept_."""

    def __init__(self, model: Any, data: Dataset, hyperparameters: Hyperparameters, party: str) -> None:
        super().__init__(model, data, hyperparameters, party)
        self.classification = hasattr(model, "classes_")
        # partial_fit keeps the dtype of the first fit (float64 in fldecl's models); float32 data would clash.
        self.x_train, self.x_test = (np.asarray(x, dtype=np.float64) for x in (self.x_train, self.x_test))

    def fit(self, round_number: int) -> dict[str, float]:
        rng = np.random.default_rng(self.round_seed(round_number))
        for _ in range(self.hyperparameters.epochs):
            order = rng.permutation(len(self.x_train))
            if self.classification:
                self.model.partial_fit(self.x_train[order], self.y_train[order], classes=self.model.classes_)
            else:
                self.model.partial_fit(self.x_train[order], self.y_train[order])
        local = self.evaluate()
        return {"train_loss": self._loss(self.x_train, self.y_train), **{f"local_{name}": value for name, value in local.items()}}

    def evaluate(self) -> dict[str, float]:
        metrics = {"loss": self._loss(self.x_test, self.y_test)}
        if self.classification:
            metrics["accuracy"] = float(self.model.score(self.x_test, self.y_test))
        else:
            metrics["mse"] = metrics["loss"]
            metrics["r2"] = float(self.model.score(self.x_test, self.y_test))
        return metrics

    def model_members(self, model_file: str) -> dict[str, bytes]:
        from fldecl.models import scikit_learn  # lazy: scikit-learn only for its models

        return {model_file: scikit_learn.serialize(self.model)}

    def _loss(self, x: NDArray[Any], y: NDArray[Any]) -> float:
        """The estimator's own objective where sklearn can compute it (log or hinge), else MSE."""
        from sklearn import metrics  # type: ignore[import-untyped]

        if not self.classification:
            return float(metrics.mean_squared_error(y, self.model.predict(x)))
        if getattr(self.model, "loss", None) == "log_loss":
            return float(metrics.log_loss(y, self.model.predict_proba(x), labels=self.model.classes_))
        return float(metrics.hinge_loss(y, self.model.decision_function(x), labels=self.model.classes_))


class KerasClient(Client):
    """A compiled Keras model (TensorFlow): ``epochs`` passes of ``fit``.

    The training's optimizer and loss, where it names them, replace those the model was compiled
    with; otherwise the model trains as compiled, as IBM's party runtime trains it. TensorFlow's
    deterministic kernels are turned on, so that a run's only randomness is the seeded one.
    """

    def __init__(self, model: Any, data: Dataset, hyperparameters: Hyperparameters, party: str) -> None:
        import tensorflow as tf

        super().__init__(model, data, hyperparameters, party)
        tf.config.experimental.enable_op_determinism()
        self.loss_name = hyperparameters.loss or _keras_name(model.loss) or "sparse_categorical_crossentropy"
        if self.loss_name not in KERAS_LOSSES:
            raise ClientError(f"loss {self.loss_name!r} is not supported for Keras models (supported: {', '.join(KERAS_LOSSES)})")
        self.classification = KERAS_LOSSES[self.loss_name]
        self.loss_function = tf.keras.losses.get(self.loss_name)
        model.compile(optimizer=self._optimizer(), loss=self.loss_name)
        target_dtype = np.int64 if self.classification else np.float32
        self.x_train, self.x_test = (np.asarray(x, dtype=np.float32) for x in (self.x_train, self.x_test))
        self.y_train, self.y_test = (np.asarray(y, dtype=target_dtype) for y in (self.y_train, self.y_test))

    def fit(self, round_number: int) -> dict[str, float]:
        import tensorflow as tf

        tf.keras.utils.set_random_seed(self.round_seed(round_number))
        history = self.model.fit(self.x_train, self.y_train, epochs=self.hyperparameters.epochs,
                                 batch_size=self.hyperparameters.batch_size, shuffle=True, verbose=0)
        local = self.evaluate()
        return {"train_loss": float(history.history["loss"][-1]), **{f"local_{name}": value for name, value in local.items()}}

    def evaluate(self) -> dict[str, float]:
        output = self.model(self.x_test, training=False).numpy()
        if not self.classification and output.ndim == 2 and output.shape[1] == 1:
            output = output[:, 0]
        metrics = {"loss": float(np.mean(self.loss_function(self.y_test, output)))}
        if self.classification:
            metrics["accuracy"] = float(np.mean(output.argmax(axis=1) == self.y_test))
        else:
            metrics["mse"] = float(np.mean((output - self.y_test) ** 2))
        return metrics

    def model_members(self, model_file: str) -> dict[str, bytes]:
        from fldecl.models import tensorflow  # lazy: TensorFlow only for Keras models

        return tensorflow.model_members(self.model, model_file)

    def _optimizer(self) -> Any:
        import tensorflow as tf

        spec = self.hyperparameters.optimizer
        if not spec:
            return self.model.optimizer or "adam"
        name = str(spec["name"]).lower()
        if name not in KERAS_OPTIMIZERS:
            raise ClientError(f"optimizer {spec['name']!r} is not supported for Keras models (supported: {', '.join(KERAS_OPTIMIZERS)})")
        options = dict(spec.get("spec") or {})
        if "lr" in options:
            options["learning_rate"] = options.pop("lr")
        try:
            return getattr(tf.keras.optimizers, KERAS_OPTIMIZERS[name])(**options)
        except (TypeError, ValueError) as error:
            raise ClientError(f"optimizer {name} options {options}: {error}") from error


CLIENTS: dict[str, type[Client]] = {"pytorch": TorchClient, "scikit-learn": SklearnClient, "tensorflow": KerasClient}


def make_client(model: Any, model_type: str, data: Dataset, hyperparameters: Hyperparameters, party: str) -> Client:
    """The client for a model of ``model_type``; refuses frameworks the local runtime cannot train."""
    problem = local_training_problem(model_type)
    if problem:
        raise ClientError(problem)
    return CLIENTS[framework_of(model_type)](model, data, hyperparameters, party)


def _keras_name(loss: Any) -> str | None:
    """The name of a compiled Keras loss (a function or a ``Loss`` object), in the snake case ``tf.keras.losses.get`` takes."""
    if loss is None or isinstance(loss, str):
        return loss
    name = getattr(loss, "__name__", None) or getattr(loss, "name", None)
    return str(name) if name else None


def _default_torch_loss(model: Any) -> str:
    """nll_loss for a model that ends in LogSoftmax (the seed's), cross-entropy otherwise."""
    import torch

    modules = list(model.modules())
    return "nll_loss" if modules and isinstance(modules[-1], torch.nn.LogSoftmax) else "cross_entropy"
