"""What a backend would refuse at apply is an error at validate, with file:line:column and field.

Each case writes one small stack the way a user would and runs ``fldecl validate`` for real: exit
code 1, the location of the field to fix, nothing written.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import run_cli
from tests.core.stacks import certificate_authority, documents, party_certificate, stack_document, write_files

STACK = stack_document("early")
CSR_CERTIFICATE = documents(certificate_authority(subject="{common_name: issuer}", validity_days=None),
                            party_certificate(csr=True))


def trained_by_one_party(model: str, training: str) -> str:
    """The Model manifest ``model``, then Party_1 and Training/agg of that model with Party_1 (``training``: the lines
    of its spec)."""
    party = ("apiVersion: fldecl/v1\nkind: RemoteTrainingSystem\nmetadata: {name: Party_1}\n"
             "spec: {allowed_identities: [{id: user-1, type: user}]}\n")
    return documents(model, party, f"apiVersion: fldecl/v1\nkind: Training\nmetadata: {{name: agg}}\nspec:\n{training}")


XGBOOST_TRAINING = trained_by_one_party("""\
apiVersion: fldecl/v1
kind: Model
metadata: {name: boosted}
spec:
  type: xgboost_1.6
  software_spec: {name: runtime-22.2-py3.10}
  model_file: model.json
  source: {zip_file: boosted.zip}
""", """\
  model: boosted
  fusion_type: xgb_classifier
  remote_training: {remote_training_systems: [{name: Party_1}]}
""")


ZIP_MODEL = """\
apiVersion: fldecl/v1
kind: Model
metadata: {name: notebook}
spec:
  type: TYPE
  software_spec: {name: runtime-22.2-py3.10}
MODEL_FILE  source: {zip_file: notebook.zip}
"""


def stack_with(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    return write_files(tmp_path / "early", STACK, files)


def validate(stack: Path) -> list[dict]:
    """``fldecl validate --json``'s diagnostics, after checking that the stack was refused and left alone."""
    result = run_cli("validate", "--json", cwd=stack)  # files are shown relative to the current directory
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert not (stack / ".fldecl").exists() and not (stack / "pki").exists()
    return json.loads(result.stdout)["diagnostics"]


def at(diagnostic: dict) -> tuple[str, int, str]:
    return diagnostic["range"]["filename"], diagnostic["range"]["start"]["line"], diagnostic["field"]


def csr_pem(key_size: int, signature_hash: hashes.HashAlgorithm) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Party_1")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, signature_hash)
    return csr.public_bytes(serialization.Encoding.PEM)


def model_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(("signature_hash", "expected"), [
    (hashes.SHA256(), "key is 2048-bit; 4096 required"),
    (hashes.SHA512(), "key is 2048-bit; 4096 required; CSR is signed with SHA512; SHA256 required"),
])
def test_a_weak_csr_is_an_error_at_validate(tmp_path: Path, signature_hash: hashes.HashAlgorithm, expected: str) -> None:
    stack = stack_with(tmp_path, {"pki.yaml": CSR_CERTIFICATE, "party-1.csr": csr_pem(2048, signature_hash)})
    [diagnostic] = validate(stack)
    assert diagnostic["summary"] == f"the CSR party-1.csr cannot be signed: {expected}"
    assert at(diagnostic) == ("pki.yaml", 14, "spec.csr_file")
    assert "RSA 4096-bit key with exponent 65537, signed with SHA256" in diagnostic["detail"]


def test_a_file_that_is_no_csr_is_an_error_at_validate(tmp_path: Path) -> None:
    stack = stack_with(tmp_path, {"pki.yaml": CSR_CERTIFICATE, "party-1.csr": "not a certificate request\n"})
    [diagnostic] = validate(stack)
    assert "is not a readable PEM CSR" in diagnostic["summary"]
    assert at(diagnostic) == ("pki.yaml", 14, "spec.csr_file")


def test_xgboost_on_the_local_backend_is_an_error_at_validate(tmp_path: Path) -> None:
    stack = stack_with(tmp_path, {"training.yaml": XGBOOST_TRAINING, "boosted.zip": model_zip({"model.json": b"{}"})})
    diagnostics = validate(stack)
    [diagnostic] = [found for found in diagnostics if found["field"] == "spec.model"]
    assert diagnostic["summary"] == ("Model/boosted cannot be trained here: xgboost models cannot train on the local backend "
                                     "(supported: pytorch, scikit-learn, tensorflow)")
    assert at(diagnostic) == ("training.yaml", 19, "spec.model")
    assert "training.yaml:5:3" in diagnostic["detail"] and "backend: wml" in diagnostic["detail"]
    # The same manifests are valid where XGBoost trains.
    (stack / "stack.yaml").write_text(stack_document("early", "wml"))
    assert run_cli("validate", str(stack)).returncode == 0


def test_a_framework_without_a_default_file_name_requires_model_file(tmp_path: Path) -> None:
    manifest = ZIP_MODEL.replace("TYPE", "xgboost_1.6").replace("MODEL_FILE", "")
    stack = stack_with(tmp_path, {"model.yaml": manifest, "notebook.zip": model_zip({"model.json": b"{}"})})
    [diagnostic] = validate(stack)
    assert diagnostic["summary"] == "missing required field 'model_file'"
    assert diagnostic["detail"] == "required when `type` is not a PyTorch, TensorFlow or scikit-learn type (no default file name)"
    assert at(diagnostic) == ("model.yaml", 4, "spec")


def test_pytorch_defaults_its_model_file_and_the_zip_must_hold_it(tmp_path: Path) -> None:
    manifest = ZIP_MODEL.replace("TYPE", "pytorch-onnx_1.12").replace("MODEL_FILE", "")
    stack = stack_with(tmp_path, {"model.yaml": manifest, "notebook.zip": model_zip({"model.pt": b"weights"})})
    [diagnostic] = validate(stack)
    assert diagnostic["summary"] == ("notebook.zip has no 'pytorch_sequence.pt' at its root (it holds: model.pt); "
                                     "set model_file to the file that holds the model")
    assert at(diagnostic) == ("model.yaml", 7, "spec.source.zip_file")
    (stack / "model.yaml").write_text(ZIP_MODEL.replace("TYPE", "pytorch-onnx_1.12").replace("MODEL_FILE", "  model_file: model.pt\n"))
    assert run_cli("validate", str(stack)).returncode == 0


def test_a_model_file_outside_the_zip_is_an_error_at_validate(tmp_path: Path) -> None:
    manifest = ZIP_MODEL.replace("TYPE", "pytorch-onnx_1.12").replace("MODEL_FILE", "  model_file: ../model.pt\n")
    stack = stack_with(tmp_path, {"model.yaml": manifest, "notebook.zip": model_zip({"model.pt": b"weights"})})
    [diagnostic] = validate(stack)
    assert diagnostic["summary"] == "model_file '../model.pt' must be a relative path inside the zip"
    assert at(diagnostic) == ("model.yaml", 7, "spec.model_file")


@pytest.mark.parametrize("model_type", ["pytorch-onnx_1.12", "pytorch-onnx_rt23.1", "scikit-learn_1.1", "tensorflow_2.12",
                                        "xgboost_1.6", "spss-modeler_18.2"])
def test_model_file_is_required_exactly_where_the_builder_has_no_default(model_type: str) -> None:
    from fldecl.core.schema import validator
    from fldecl.models import framework_of
    from fldecl.models.spec import DEFAULT_MODEL_FILES

    document = {"apiVersion": "fldecl/v1", "kind": "Model", "metadata": {"name": "m"},
                "spec": {"type": model_type, "software_spec": {"name": "s"}, "source": {"zip_file": "m.zip"}}}
    missing = [error.message for error in validator("Model").iter_errors(document)]
    assert bool(missing) == (framework_of(model_type) not in DEFAULT_MODEL_FILES), missing


def test_the_reference_says_when_model_file_is_required() -> None:
    from fldecl.render.reference import reference_markdown

    row = next(line for line in reference_markdown().splitlines() if line.startswith("| `spec.model_file`"))
    assert "Required when `type` is not a PyTorch, TensorFlow or scikit-learn type (no default file name)." in row


LIMITS_TRAINING = trained_by_one_party("""\
apiVersion: fldecl/v1
kind: Model
metadata: {name: sgd}
spec:
  type: scikit-learn_1.1
  software_spec: {name: runtime-22.2-py3.10}
  source: {architecture: {framework: scikit-learn, estimator: SGDClassifier, n_features: 4, classes: [0, 1]}}
""", """\
  model: sgd
  fusion_type: iter_avg
  rounds: ROUNDS
  epochs: EPOCHS
  remote_training: {max_timeout: TIMEOUT, remote_training_systems: [{name: Party_1}]}
""")


def test_counts_beyond_what_wml_accepts_are_errors_at_validate(tmp_path: Path) -> None:
    """WML stores rounds, epochs and timeouts as 32-bit integers: 10^100 rounds is a mistake, not a training."""
    huge = str(10 ** 100)
    manifest = LIMITS_TRAINING.replace("ROUNDS", huge).replace("EPOCHS", "2147483648").replace("TIMEOUT", huge)
    found = validate(stack_with(tmp_path, {"training.yaml": manifest}))
    assert [(at(d), d["summary"]) for d in found] == [
        (("training.yaml", 20, "spec.rounds"), "1e+100 is too large: at most 2147483647"),
        (("training.yaml", 21, "spec.epochs"), "2147483648 is too large: at most 2147483647"),
        (("training.yaml", 22, "spec.remote_training.max_timeout"), "1e+100 is too large: at most 2147483647")]
    within = LIMITS_TRAINING.replace("ROUNDS", "2147483647").replace("EPOCHS", "1").replace("TIMEOUT", "600")
    (tmp_path / "early" / "training.yaml").write_text(within)
    assert run_cli("validate", str(tmp_path / "early")).returncode == 0


@pytest.mark.parametrize("identities", ["", "  allowed_identities: []\n"])
def test_a_party_nobody_may_run_is_an_error_on_wml(tmp_path: Path, identities: str) -> None:
    rts = f"apiVersion: fldecl/v1\nkind: RemoteTrainingSystem\nmetadata: {{name: Party_1}}\nspec:\n  description: p\n{identities}"
    stack = stack_with(tmp_path, {"rts.yaml": rts})
    assert run_cli("validate", str(stack)).returncode == 0  # the local backend runs parties without identities
    (stack / "stack.yaml").write_text(stack_document("early", "wml"))
    [diagnostic] = validate(stack)
    assert at(diagnostic) == ("rts.yaml", 6 if identities else 3, "spec.allowed_identities")
    assert diagnostic["summary"].startswith("WML requires at least one allowed identity")


@pytest.mark.parametrize("depth", [100, 900, 5000])
def test_values_nested_deeper_than_any_manifest_needs_are_one_clear_error(tmp_path: Path, depth: int) -> None:
    nested = "[" * depth + "]" * depth
    rts = f"apiVersion: fldecl/v1\nkind: RemoteTrainingSystem\nmetadata: {{name: Party_1}}\nspec:\n  description: {nested}\n"
    [diagnostic] = validate(stack_with(tmp_path, {"rts.yaml": rts}))
    assert diagnostic["range"]["filename"] == "rts.yaml" and diagnostic["range"]["start"]["line"] == 5
    assert "nest" in diagnostic["summary"]
