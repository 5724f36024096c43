"""Model zips: the seed's MLP, scikit-learn estimators, hashes, trust and error messages."""

from __future__ import annotations

import copy
import hashlib
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from fldecl.models import (
    ModelError,
    ModelTrustError,
    build_zip,
    content_hash,
    framework_of,
    get_parameters,
    load_model,
    set_parameters,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_STACK = REPO_ROOT / "manifests" / "mnist-fhe"
SEED_MLP_PARAMETERS = 784 * 256 + 256 + 256 * 100 + 100 + 100 * 50 + 50 + 50 * 10 + 10  # 232,220


@pytest.fixture
def mlp_spec() -> dict:
    return yaml.safe_load((EXAMPLE_STACK / "model.yaml").read_text())["spec"]


def sklearn_spec(estimator: str, **architecture) -> dict:
    return {
        "type": "scikit-learn_1.1",
        "software_spec": {"name": "runtime-22.2-py3.10"},
        "source": {"architecture": {"framework": "scikit-learn", "estimator": estimator, "n_features": 64, **architecture}},
    }


def test_seed_mlp_builds_with_the_seed_layout(mlp_spec):
    zip_bytes = build_zip(mlp_spec, EXAMPLE_STACK)
    assert zipfile.ZipFile(io.BytesIO(zip_bytes)).namelist() == ["pytorch_sequence.pt"]

    import torch

    model = load_model(zip_bytes, "pytorch_sequence.pt", trusted=True)
    assert isinstance(model, torch.nn.Sequential)
    assert [type(layer).__name__ for layer in model] == [
        "Flatten", "Linear", "ReLU", "Linear", "ReLU", "Linear", "ReLU", "Linear", "LogSoftmax",
    ]
    assert sum(parameter.numel() for parameter in model.parameters()) == SEED_MLP_PARAMETERS == 232_220
    log_probabilities = model(torch.zeros(2, 1, 28, 28))
    assert log_probabilities.shape == (2, 10)
    assert torch.allclose(log_probabilities.exp().sum(dim=1), torch.ones(2))


def test_builds_are_byte_identical_in_process_and_across_processes(mlp_spec):
    first = build_zip(mlp_spec, EXAMPLE_STACK)
    assert build_zip(mlp_spec, EXAMPLE_STACK) == first
    script = (
        "import hashlib, sys, yaml; from pathlib import Path; from fldecl.models import build_zip;"
        f"spec = yaml.safe_load(Path({str(EXAMPLE_STACK / 'model.yaml')!r}).read_text())['spec'];"
        "print(hashlib.sha256(build_zip(spec, Path('.'))).hexdigest())"
    )
    other_process = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"}, cwd=REPO_ROOT,
    )
    assert other_process.stdout.strip() == hashlib.sha256(first).hexdigest()


def test_seed_changes_weights_and_building_leaves_global_rng_alone(mlp_spec):
    import torch

    torch.manual_seed(7)
    expected_next = torch.rand(1)
    torch.manual_seed(7)
    reseeded = copy.deepcopy(mlp_spec)
    reseeded["source"]["architecture"]["seed"] = 1
    assert build_zip(reseeded, EXAMPLE_STACK) != build_zip(mlp_spec, EXAMPLE_STACK)
    assert torch.equal(torch.rand(1), expected_next)


def test_architecture_hash_is_stable_and_tracks_what_is_built(mlp_spec):
    reference = content_hash(mlp_spec, EXAMPLE_STACK)
    assert reference.startswith("sha256:") and content_hash(copy.deepcopy(mlp_spec), EXAMPLE_STACK) == reference

    seed_omitted = copy.deepcopy(mlp_spec)
    del seed_omitted["source"]["architecture"]["seed"]
    assert content_hash(seed_omitted, EXAMPLE_STACK) == reference

    wider = copy.deepcopy(mlp_spec)
    wider["source"]["architecture"]["layers"][1]["out_features"] = 512
    renamed = {**mlp_spec, "model_file": "model.pt"}
    assert len({reference, content_hash(wider, EXAMPLE_STACK), content_hash(renamed, EXAMPLE_STACK)}) == 3


def test_content_hash_of_an_architecture_imports_no_framework():
    script = (
        "import sys, yaml; from pathlib import Path; from fldecl.models import content_hash;"
        f"spec = yaml.safe_load(Path({str(EXAMPLE_STACK / 'model.yaml')!r}).read_text())['spec'];"
        "assert content_hash(spec, Path('.')).startswith('sha256:');"
        "print(sorted(name for name in ('torch', 'sklearn', 'numpy') if name in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert result.stdout.strip() == "[]"


def test_untrusted_loading_is_refused_with_the_fix(mlp_spec):
    zip_bytes = build_zip(mlp_spec, EXAMPLE_STACK)
    with pytest.raises(ModelTrustError, match=r"trusted: true"):
        load_model(zip_bytes, "pytorch_sequence.pt", trusted=False)


def test_sklearn_classifier_builds_zeroed_and_round_trips_parameters(tmp_path):
    spec = sklearn_spec("SGDClassifier", classes=list(range(10)), params={"loss": "log_loss"}, seed=3)
    zip_bytes = build_zip(spec, tmp_path)
    assert zip_bytes == build_zip(spec, tmp_path)
    assert zipfile.ZipFile(io.BytesIO(zip_bytes)).namelist() == ["model.pickle"]

    classifier = load_model(zip_bytes, "model.pickle", trusted=True)
    coef, intercept = get_parameters(classifier)
    assert coef.shape == (10, 64) and intercept.shape == (10,)
    assert not coef.any() and not intercept.any()
    assert classifier.random_state == 3 and list(classifier.classes_) == list(range(10))

    rng = np.random.default_rng(0)
    updated = [rng.standard_normal(coef.shape), rng.standard_normal(intercept.shape)]
    set_parameters(classifier, updated)
    assert all(np.array_equal(got, want) for got, want in zip(get_parameters(classifier), updated, strict=False))
    classifier.partial_fit(rng.random((20, 64)), rng.integers(0, 10, 20))
    assert classifier.predict(rng.random((5, 64))).shape == (5,)


def test_binary_classifier_has_one_row_of_coefficients(tmp_path):
    classifier = load_model(build_zip(sklearn_spec("SGDClassifier", classes=["no", "yes"]), tmp_path), "model.pickle", True)
    assert [array.shape for array in get_parameters(classifier)] == [(1, 64), (1,)]


def test_sklearn_regressor_builds_and_round_trips_parameters(tmp_path):
    spec = {**sklearn_spec("SGDRegressor", n_features=10), "model_file": "regressor.pkl"}
    regressor = load_model(build_zip(spec, tmp_path), "regressor.pkl", trusted=True)
    coef, intercept = get_parameters(regressor)
    assert coef.shape == (10,) and intercept.shape == (1,)
    set_parameters(regressor, [np.arange(10.0), np.array([0.5])])
    assert regressor.predict(np.eye(10)).tolist() == pytest.approx(np.arange(10.0) + 0.5)


@pytest.mark.parametrize(
    "architecture, message",
    [
        ({"estimator": "SGDClassifier"}, "needs classes"),
        ({"estimator": "SGDRegressor", "classes": [0, 1]}, "only to SGDClassifier"),
        ({"estimator": "SGDClassifier", "classes": [0, 1], "params": {"random_state": 1}}, "seed"),
        ({"estimator": "SGDClassifier", "classes": [0, 1], "params": {"no_such_param": 1}}, "no_such_param"),
    ],
)
def test_sklearn_spec_mistakes_are_explained(tmp_path, architecture, message):
    with pytest.raises(ModelError, match=message):
        build_zip(sklearn_spec(**architecture), tmp_path)


def test_parameter_count_and_shape_mismatches_are_errors(mlp_spec):
    model = load_model(build_zip(mlp_spec, EXAMPLE_STACK), "pytorch_sequence.pt", trusted=True)
    arrays = get_parameters(model)
    with pytest.raises(ModelError, match="expected 8 parameter arrays"):
        set_parameters(model, arrays[:-1])
    with pytest.raises(ModelError, match=r"1\.weight: expected shape \(256, 784\)"):
        set_parameters(model, [arrays[0].T, *arrays[1:]])
    set_parameters(model, [np.zeros_like(array) for array in arrays])
    assert not any(array.any() for array in get_parameters(model))


def test_zip_file_source_is_hashed_and_checked_for_model_file(tmp_path):
    zip_bytes = _zip({"other.pt": b"x"})
    (tmp_path / "init.zip").write_bytes(zip_bytes)
    spec = {
        "type": "pytorch-onnx_1.12",
        "software_spec": {"name": "s"},
        "model_file": "other.pt",
        "source": {"zip_file": "init.zip"},
    }
    assert content_hash(spec, tmp_path) == "sha256:" + hashlib.sha256(zip_bytes).hexdigest()
    assert build_zip(spec, tmp_path) == zip_bytes

    lacking = {**spec, "model_file": "pytorch_sequence.pt"}
    with pytest.raises(ModelError, match=r"has no 'pytorch_sequence.pt' at its root \(it holds: other.pt\)"):
        build_zip(lacking, tmp_path)
    with pytest.raises(ModelError, match="has no 'pytorch_sequence.pt'"):
        load_model(tmp_path / "init.zip", "pytorch_sequence.pt", trusted=True)


def test_zip_file_source_problems_are_explained(tmp_path):
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    spec = {"type": "pytorch-onnx_1.12", "software_spec": {"name": "s"}, "source": {"zip_file": "broken.zip"}}
    with pytest.raises(ModelError, match="not a valid zip"):
        build_zip(spec, tmp_path)
    with pytest.raises(ModelError, match="cannot read model zip"):
        content_hash({**spec, "source": {"zip_file": "missing.zip"}}, tmp_path)


def test_training_source_is_known_only_after_the_training(tmp_path):
    spec = {"type": "pytorch-onnx_1.12", "software_spec": {"name": "s"}, "source": {"training": "aggregator_he"}}
    assert content_hash(spec, tmp_path) is None
    with pytest.raises(ModelError, match="training"):
        build_zip(spec, tmp_path)


def test_architecture_mistakes_are_explained(mlp_spec):
    mismatched = {**mlp_spec, "type": "scikit-learn_1.1"}
    with pytest.raises(ModelError, match="does not match model type"):
        content_hash(mismatched, EXAMPLE_STACK)
    bad_layer = copy.deepcopy(mlp_spec)
    bad_layer["source"]["architecture"]["layers"][1] = {"type": "Linear", "in_features": 784}
    with pytest.raises(ModelError, match=r"layer 1 \(Linear\)"):
        build_zip(bad_layer, EXAMPLE_STACK)


def test_convolutional_layers_take_list_arguments(mlp_spec, tmp_path):
    spec = copy.deepcopy(mlp_spec)
    spec["source"]["architecture"]["layers"] = [
        {"type": "Conv2d", "in_channels": 1, "out_channels": 4, "kernel_size": [3, 3]},
        {"type": "MaxPool2d", "kernel_size": 2},
        {"type": "Flatten"},
        {"type": "Dropout", "p": 0.25},
        {"type": "Linear", "in_features": 4 * 13 * 13, "out_features": 10},
        {"type": "Softmax", "dim": 1},
    ]
    import torch

    model = load_model(build_zip(spec, tmp_path), "pytorch_sequence.pt", trusted=True).eval()
    assert model(torch.zeros(1, 1, 28, 28)).shape == (1, 10)


@pytest.mark.parametrize(
    "model_type, framework",
    [
        ("pytorch-onnx_1.12", "pytorch"),
        ("scikit-learn_1.1", "scikit-learn"),
        ("tensorflow_2.12", "tensorflow"),
        ("xgboost_1.6", "xgboost"),
        ("spss-modeler_18.2", "spss-modeler"),
    ],
)
def test_framework_of(model_type, framework):
    assert framework_of(model_type) == framework


def test_framework_of_rejects_types_without_version():
    with pytest.raises(ModelError, match="<framework>_<version>"):
        framework_of("pytorch")


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()
