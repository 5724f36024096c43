"""A manifest set full of mistakes: one clear error per mistake, exit 1, nothing changed, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli

BROKEN = {
    "stack.yaml": """\
apiVersion: fldecl/v1
kind: Stack
metadata: {name: broken}
spec:
  backend: cloud
""",
    "pki.yaml": """\
apiVersion: fldecl/v1
kind: CertificateAuthority
metadata: {name: issuer}
spec:
  subject: {common_name: ca}
  key_file: ../outside.pem
  cert_file: pki/ca.pem
  key: {size: 2048}
---
apiVersion: fldecl/v1
kind: PartyCertificate
metadata: {name: party-1}
spec:
  issuer: no-such-ca
  subject: {common_name: p1}
  key_file: pki/p1.pem
  csr_file: p1.csr
  cert_file: pki/p1-cert.pem
---
apiVersion: fldecl/v1
kind: PartyCertificate
metadata: {name: party-2}
spec:
  issuer: issuer
  key_file: pki/p2.pem
  cert_file: pki/ca.pem
  validity_days: 10
  renew_before_days: 30
""",
    "model.yaml": """\
apiVersion: fldecl/v1
kind: Model
metadata: {name: m}
spec:
  type: scikit-learn_1.1
  software_spec: {name: runtime-22.2-py3.10}
  model_file: model.pickle
  source:
    architecture: {framework: pytorch, layers: [{type: Linear, in_features: 3, out_features: 2}]}
---
apiVersion: fldecl/v1
kind: Model
metadata: {name: zip}
spec:
  type: pytorch-onnx_1.12
  software_spec: {name: x}
  model_file: a.pt
  source: {zip_file: missing.zip}
---
apiVersion: fldecl/v1
kind: Model
metadata: {name: m}
spec:
  type: pytorch-onnx_1.12
  software_spec: {name: x, id: y}
  source: {zip_file: m.zip, training: t}
""",
    "training.yaml": """\
apiVersion: fldecl/v1
kind: Training
metadata: {name: t}
spec:
  model: m
  fusion_type: avg
  crypto: {cipher_spec: encryption_level_1}
  rounds: 0
  epochs: 1
  epochs: 2
  remote_training:
    quorum: 1.5
    remote_training_systems:
      - {name: Party_1, required: yes}
      - {name: Party_1}
      - {name: Ghost}
---
apiVersion: fldecl/v1
kind: Training
metadata: {name: "bad name!"}
spec:
  model: m
  fusion_type: crypto_iter_avg
  crypto: {cipher_spec: encryption_level_5}
  remote_training: {remote_training_systems: []}
""",
    "rts.yaml": """\
apiVersion: fldecl/v1
kind: RemoteTrainingSystem
metadata: {name: Party_1}
spec:
  descripton: typo
  allowed_identities: [{id: u, type: robot}]
  party:
    certificate: party-1
    data_handler: {name: H, path: /etc/passwd.py}
---
apiVersion: fldecl/v1
kind: RemoteTraningSystem
metadata: {name: Party_2}
spec: {}
---
apiVersion: fldecl/v2
kind: RemoteTrainingSystem
metadata: {name: Party_3}
---
apiVersion: fldecl/v1
kind: RemoteTrainingSystem
metadata: {name: Party_4}
spec:
  description: ${UNSET_VARIABLE_FOR_TEST}
  organization: !!python/object:os.system {name: x}
""",
    "syntax.yaml": "apiVersion: fldecl/v1\nkind: Stack\nmetadata: {name: [unclosed\n",
}

EXPECTED = [
    ("stack.yaml", "'cloud' is not one of 'local', 'wml'"),
    ("pki.yaml", "path '../outside.pem' leaves the stack directory"),
    ("pki.yaml", "must be 4096, not 2048"),
    ("pki.yaml", "these fields cannot be used together: csr_file"),
    ("pki.yaml", "missing subject"),
    ("pki.yaml", "renew_before_days must be shorter than validity_days"),
    ("pki.yaml", "'pki/ca.pem' is also written by CertificateAuthority/issuer"),
    ("model.yaml", "type scikit-learn_1.1 does not match the architecture's framework pytorch"),
    ("model.yaml", "file 'missing.zip' does not exist"),
    ("model.yaml", "Model/m is declared twice"),
    ("training.yaml", "duplicate key 'epochs'"),
    ("training.yaml", "0 is less than the minimum of 1"),
    ("training.yaml", "1.5 is too large: at most 1"),
    ("training.yaml", "homomorphic encryption supports only simple averaging"),
    ("training.yaml", "party Party_1 is listed twice"),
    ("training.yaml", "reference to RemoteTrainingSystem/Ghost, which is not declared"),
    ("training.yaml", "'bad name!' does not have the expected form"),
    ("training.yaml", "'encryption_level_5' is not one of"),
    ("training.yaml", "[] should be non-empty"),
    ("rts.yaml", "unknown field 'descripton'"),
    ("rts.yaml", "'robot' is not one of 'user', 'service-id'"),
    ("rts.yaml", "path '/etc/passwd.py' leaves the stack directory"),
    ("rts.yaml", "unknown kind 'RemoteTraningSystem'"),
    ("rts.yaml", "apiVersion must be 'fldecl/v1'"),
    ("rts.yaml", "environment variable UNSET_VARIABLE_FOR_TEST is not set"),
    ("rts.yaml", "tag 'tag:yaml.org,2002:python/object:os.system' is not allowed"),
    ("syntax.yaml", "YAML syntax error"),
]


def write(directory: Path) -> Path:
    directory.mkdir()
    for name, text in BROKEN.items():
        (directory / name).write_text(text)
    return directory


def test_every_mistake_reported_once_with_location(tmp_path: Path) -> None:
    stack = write(tmp_path / "broken")
    result = run_cli("validate", "--json", cwd=stack)  # files are shown relative to the current directory
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    document = json.loads(result.stdout)
    assert document["valid"] is False
    found = [(d["range"]["filename"], d["summary"]) for d in document["diagnostics"]]
    for file, text in EXPECTED:
        hits = [summary for f, summary in found if f == file and text in summary]
        assert len(hits) == 1, f"{file}: expected exactly one error containing {text!r}; got {found}"
    for diagnostic in document["diagnostics"]:
        assert diagnostic["range"]["start"]["line"] >= 1


def test_text_output_has_file_line_column_and_field(tmp_path: Path) -> None:
    stack = write(tmp_path / "broken")
    result = run_cli("validate", cwd=stack)
    assert result.returncode == 1
    assert "training.yaml:10:3: error: duplicate key 'epochs' (first at line 9)" in result.stderr
    assert "rts.yaml:5:3: error: unknown field 'descripton' [spec.descripton]" in result.stderr
    assert "did you mean 'description'?" in result.stderr


def test_plan_and_apply_on_an_invalid_stack_change_nothing(tmp_path: Path) -> None:
    stack = write(tmp_path / "broken")
    for command in (["plan"], ["apply", "--auto-approve"], ["destroy", "--auto-approve"]):
        result = run_cli(*command, str(stack))
        assert result.returncode == 1
        assert "the stack is invalid" in result.stderr
        assert "Traceback" not in result.stderr
    assert not (stack / ".fldecl").exists()
    assert not (stack / "pki").exists()


def test_alias_bomb_is_bounded(tmp_path: Path) -> None:
    stack = tmp_path / "bomb"
    stack.mkdir()
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    (stack / "bomb.yaml").write_text("\n".join(levels) + "\n")
    result = run_cli("validate", str(stack), timeout=60)
    assert result.returncode == 1
    assert "alias expansion is bounded" in result.stderr


def test_environment_substitution_with_defaults_and_types(tmp_path: Path) -> None:
    from fldecl.kinds import load_stack
    from tests.core.stacks import write_stack

    stack = write_stack(tmp_path / "stack", pki=False, model=False)
    (stack / "stack.yaml").write_text((stack / "stack.yaml").read_text().replace("backend: local", "backend: ${BACKEND:-local}"))
    (stack / "rts.yaml").write_text((stack / "rts.yaml").read_text().replace("description: a party", "description: ${DESC} $${LITERAL}"))
    loaded = load_stack(stack, env={"DESC": "from env"})
    assert loaded.backend == "local"
    assert loaded.declarations["RemoteTrainingSystem/Party_1"].spec["description"] == "from env ${LITERAL}"
