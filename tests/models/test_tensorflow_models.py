"""TensorFlow (Keras) models: the SavedModel layout WML expects, byte-reproducible builds, loading, trust, a user's .h5.

Each build starts TensorFlow in a fresh process (tens of seconds on a busy machine): those tests are slow.
"""

from __future__ import annotations

import copy
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from fldecl.models import ModelError, ModelTrustError, build_zip, content_hash, get_parameters, load_model, set_parameters

REPO_ROOT = Path(__file__).resolve().parents[2]
TF_STACK = REPO_ROOT / "manifests" / "mnist-tf-fhe"
SAVED_MODEL = ["model_architecture/fingerprint.pb", "model_architecture/keras_metadata.pb", "model_architecture/saved_model.pb",
               "model_architecture/variables/variables.data-00000-of-00001", "model_architecture/variables/variables.index"]


@pytest.fixture(scope="module")
def keras_spec() -> dict:
    return yaml.safe_load((TF_STACK / "model.yaml").read_text())["spec"]


@pytest.fixture(scope="module")
def keras_zip(keras_spec: dict) -> bytes:
    return build_zip(keras_spec, TF_STACK)


@pytest.mark.slow(seconds=10)
def test_the_example_builds_a_compiled_savedmodel_in_wml_layout(keras_zip: bytes) -> None:
    assert zipfile.ZipFile(io.BytesIO(keras_zip)).namelist() == SAVED_MODEL
    model = load_model(keras_zip, "model_architecture", trusted=True)
    assert [layer.name for layer in model.layers] == [f"layer_{index}" for index in range(5)]
    assert sum(array.size for array in get_parameters(model)) == 232_220  # the seed's MLP, in Keras
    assert model.optimizer.get_config()["name"] == "Adam" and abs(model.optimizer.learning_rate.numpy() - 0.005) < 1e-9
    probabilities = model(np.zeros((2, 28, 28, 1), dtype=np.float32)).numpy()
    assert probabilities.shape == (2, 10) and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    arrays = get_parameters(model)
    set_parameters(model, [array * 0 for array in arrays])
    assert all(not array.any() for array in get_parameters(model))
    with pytest.raises(ModelError, match="expected shape"):
        set_parameters(model, [arrays[1], *arrays[1:]])


@pytest.mark.slow(seconds=5)
def test_builds_are_byte_identical_and_the_seed_changes_them(keras_spec: dict, keras_zip: bytes) -> None:
    assert build_zip(keras_spec, TF_STACK) == keras_zip
    reseeded = copy.deepcopy(keras_spec)
    reseeded["source"]["architecture"]["seed"] = 1
    assert content_hash(reseeded, TF_STACK) != content_hash(keras_spec, TF_STACK)


def test_plans_hash_a_keras_declaration_without_tensorflow() -> None:
    script = ("import sys, yaml; from pathlib import Path; from fldecl.models import content_hash;"
              f"spec = yaml.safe_load(Path({str(TF_STACK / 'model.yaml')!r}).read_text())['spec'];"
              "assert content_hash(spec, Path('.')).startswith('sha256:');"
              "print(sorted(name for name in ('tensorflow', 'keras', 'numpy') if name in sys.modules))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert result.stdout.strip() == "[]"


@pytest.mark.slow(seconds=1)
def test_untrusted_loading_is_refused_and_a_missing_savedmodel_is_explained(keras_zip: bytes) -> None:
    with pytest.raises(ModelTrustError, match=r"trusted: true"):
        load_model(keras_zip, "model_architecture", trusted=False)
    broken = io.BytesIO()
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("model_architecture/variables/variables.index", b"")
    with pytest.raises(ModelError, match="not a SavedModel directory"):
        load_model(broken.getvalue(), "model_architecture", trusted=True)
    with pytest.raises(ModelError, match="has no 'model' at its root"):
        load_model(keras_zip, "model", trusted=True)


@pytest.mark.slow(seconds=1)
def test_a_users_zip_with_a_keras_h5_file_or_a_savedmodel_at_its_root_loads(keras_zip: bytes, tmp_path: Path) -> None:
    model = load_model(keras_zip, "model_architecture", trusted=True)
    model.save(tmp_path / "model.h5")
    h5_zip, root_zip = tmp_path / "notebook.zip", tmp_path / "root.zip"
    with zipfile.ZipFile(h5_zip, "w") as archive:
        archive.write(tmp_path / "model.h5", "model.h5")
    with zipfile.ZipFile(io.BytesIO(keras_zip)) as source, zipfile.ZipFile(root_zip, "w") as archive:
        for name in source.namelist():
            archive.writestr(name.removeprefix("model_architecture/"), source.read(name))
    for path, model_file in ((h5_zip, "model.h5"), (root_zip, "saved_model.pb")):
        loaded = load_model(path, model_file, trusted=True)
        for ours, theirs in zip(get_parameters(model), get_parameters(loaded), strict=True):
            assert np.array_equal(ours, theirs)
