"""What the aggregator tells a party when it registers: the model package and the classes to run.

WML sends each party a zip with the training's stored initial model and names the party
runtime's model class (``ibmfl.model...``) and local training handler; the party unzips the
package into its working directory and loads the model file from it (a TensorFlow model: the
SavedModel directory that holds ``saved_model.pb``, or a Keras ``.h5`` file). The model class follows
the stored model's type; the handler follows the fusion type (``crypto_iter_avg`` adds IBM's
HE key distribution, whose party-side file paths each party fills in itself).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import Any

from fldecl.emulator.documents import FederatedTraining, StoredModel
from fldecl.errors import RuntimeFailure

CRYPTO_FUSION = "crypto_iter_avg"
PLAIN_FUSION = "iter_avg"
FUSION_TYPES = (PLAIN_FUSION, CRYPTO_FUSION)
#: The runtime's model classes, by the prefix of WML's model type.
MODEL_CLASSES = {
    "pytorch": ("PytorchFLModel", "ibmfl.model.pytorch_fl_model"),
    "scikit-learn": ("SklearnSGDFLModel", "ibmfl.model.sklearn_SGD_linear_fl_model"),
    "tensorflow": ("TensorFlowFLModel", "ibmfl.model.tensorflow_fl_model"),
}
SAVED_MODEL_FILE = "saved_model.pb"
TORCH_OPTIMIZERS = {"adam": "Adam", "sgd": "SGD", "adagrad": "Adagrad", "rmsprop": "RMSprop", "adamw": "AdamW"}
TORCH_LOSSES = {"nll_loss": "NLLLoss", "cross_entropy": "CrossEntropyLoss", "mse": "MSELoss", "mse_loss": "MSELoss"}


class PackageError(RuntimeFailure):
    """A training the aggregator cannot run: its fusion or its model is not one it serves."""


@dataclass(frozen=True)
class TrainingPlan:
    """The REGISTER answer and the hyperparameters each TRAIN carries."""

    register_reply: dict[str, Any]
    hyperparams: dict[str, Any]
    framework: str


def plan_training(federated: FederatedTraining, model: StoredModel, content: bytes) -> TrainingPlan:
    if federated.fusion_type not in FUSION_TYPES:
        raise PackageError(f"the emulator's aggregator fuses {' and '.join(FUSION_TYPES)}, not {federated.fusion_type}")
    framework = next((name for name in MODEL_CLASSES if (model.type or "").startswith(name)), None)
    if framework is None:
        raise PackageError(f"the emulator's aggregator trains PyTorch, TensorFlow and scikit-learn models, not {model.type}")
    name, path = MODEL_CLASSES[framework]
    spec: dict[str, Any] = ({"model_definition": federated.model_file or _single_file(content)} if framework != "tensorflow"
                            else _keras_definition(content, federated.model_file))
    training: dict[str, Any] = {}
    local: dict[str, Any] = {"training": training}
    if framework == "tensorflow":
        training["epochs"] = federated.epochs or 1
        lr = ((federated.optimizer or {}).get("spec") or {}).get("lr")
        if lr:
            local["optimizer"] = {"lr": lr}  # TensorFlowFLModel sets it on the compiled optimizer
    elif framework == "pytorch":
        training.update(epochs=federated.epochs or 1)
        optimizer = federated.optimizer or {}
        if optimizer.get("name"):
            spec["optimizer"] = f"torch.optim.{TORCH_OPTIMIZERS.get(optimizer['name'].lower(), optimizer['name'])}"
        training.update({key: value for key, value in (optimizer.get("spec") or {}).items() if key == "lr"})
        if federated.loss:
            spec["loss_criterion"] = f"torch.nn.{TORCH_LOSSES.get(federated.loss, federated.loss)}"
    else:
        training["max_iter"] = federated.epochs or 1
    reply = {"status": "success", "model_package": content,
             "model_config": {"name": name, "path": path, "spec": spec},
             "local_training": _local_training(federated.fusion_type == CRYPTO_FUSION)}
    return TrainingPlan(reply, {"local": local}, framework)


def _local_training(encrypted: bool) -> dict[str, Any]:
    if not encrypted:
        return {"name": "LocalTrainingHandler", "path": "ibmfl.party.training.local_training_handler"}
    key_manager = {"name": "DistributionKeyManager", "path": "ibmfl.crypto.keys_mng.crypto_key_mng_dst",
                   "key_mgr_info": {"distribution": {}}}
    return {"name": "CryptoLocalTrainingHandler", "path": "ibmfl.party.training.crypto_local_training_handler",
            "info": {"crypto": {"name": "CryptoFHE", "path": "ibmfl.crypto.helayer.fhe", "key_manager": key_manager}}}


def _keras_definition(content: bytes, model_file: str | None) -> dict[str, Any]:
    """Where the party finds a Keras model: the directory of the package's SavedModel, or its one model file.

    A SavedModel at the package's root is the party's working directory itself.
    """
    names = _file_names(content)
    directories = [name.rpartition("/")[0] for name in names if name.rpartition("/")[2] == SAVED_MODEL_FILE]
    if model_file:
        directory = model_file.rstrip("/")
        if model_file in names and not model_file.endswith(SAVED_MODEL_FILE):
            return {"model_definition": model_file}
        if model_file.endswith(SAVED_MODEL_FILE):
            directory = model_file.rpartition("/")[0]
        directories = [found for found in directories if found == directory]
    if len(directories) == 1:
        return {"model_definition": directories[0]} if directories[0] else {"is_model_working_dir": True}
    if not model_file and len(names) == 1:
        return {"model_definition": names[0]}
    raise PackageError(f"the TensorFlow model package holds {'no' if not directories else 'more than one'} SavedModel"
                       + (f" at {model_file}" if model_file else "") + f" (it holds: {', '.join(names) or 'nothing'})")


def _file_names(content: bytes) -> list[str]:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return [info.filename for info in archive.infolist() if not info.is_dir()]
    except zipfile.BadZipFile as error:
        raise PackageError(f"the stored model is not a zip: {error}") from error


def _single_file(content: bytes) -> str:
    """A package that names no model file must hold exactly one."""
    names = _file_names(content)
    if len(names) != 1:
        raise PackageError("the training names no model_file and the model zip holds several files")
    return names[0]


def with_final_weights(content: bytes, weights: list[Any]) -> bytes:
    """The trained model WML stores: the initial package plus the final parameters, layer by layer, as npz."""
    import numpy as np

    parameters = io.BytesIO()
    np.savez(parameters, *[np.asarray(layer) for layer in weights])
    output = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as source, zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info, source.read(info))
        target.writestr(FINAL_WEIGHTS_FILE, parameters.getvalue())
    return output.getvalue()


FINAL_WEIGHTS_FILE = "final_weights.npz"
