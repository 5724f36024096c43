"""What the emulator's aggregator tells IBM's party about a TensorFlow model: where in the package its Keras model is."""

from __future__ import annotations

import io
import zipfile

import pytest

from fldecl.emulator.aggregator.packages import PackageError, plan_training
from fldecl.emulator.documents import FederatedTraining, StoredModel

SAVED_MODEL = ("saved_model.pb", "keras_metadata.pb", "variables/variables.index", "variables/variables.data-00000-of-00001")


def package(*names: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, b"")
    return buffer.getvalue()


def keras_spec(content: bytes, model_file: str | None = None, optimizer: dict | None = None) -> tuple[dict, dict]:
    model = {"spec": {"id": "m"}, "type": "tensorflow", **({"model_file": model_file} if model_file else {})}
    training = {"entity": {"federated_learning": {"fusion_type": "crypto_iter_avg", "model": model, "epochs": 2,
                                                  **({"optimizer": optimizer} if optimizer else {})}}}
    plan = plan_training(FederatedTraining.of(training), StoredModel("keras", "tensorflow_2.14"), content)
    assert plan.register_reply["model_config"]["name"] == "TensorFlowFLModel"
    return plan.register_reply["model_config"]["spec"], plan.hyperparams["local"]


@pytest.mark.parametrize(("names", "model_file", "expected"), [
    ([f"model_architecture/{name}" for name in SAVED_MODEL], "model_architecture", {"model_definition": "model_architecture"}),
    ([f"model_architecture/{name}" for name in SAVED_MODEL], None, {"model_definition": "model_architecture"}),
    (list(SAVED_MODEL), None, {"is_model_working_dir": True}),
    (list(SAVED_MODEL), "saved_model.pb", {"is_model_working_dir": True}),
    (["model.h5"], None, {"model_definition": "model.h5"}),
    (["model.h5", "README"], "model.h5", {"model_definition": "model.h5"}),
])
def test_the_party_is_pointed_at_the_savedmodel_directory_or_the_keras_file(names, model_file, expected) -> None:
    spec, local = keras_spec(package(*names), model_file, optimizer={"name": "adam", "spec": {"lr": 0.005}})
    assert spec == expected
    assert local == {"training": {"epochs": 2}, "optimizer": {"lr": 0.005}}


def test_a_package_without_a_keras_model_is_refused() -> None:
    with pytest.raises(PackageError, match="holds no SavedModel"):
        keras_spec(package("a.bin", "b.bin"))
    with pytest.raises(PackageError, match="holds more than one SavedModel"):
        keras_spec(package("one/saved_model.pb", "two/saved_model.pb"))
