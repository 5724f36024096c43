"""Small stacks for the core tests, written as YAML files the way users write them."""

from __future__ import annotations

from pathlib import Path

STACK = """\
apiVersion: fldecl/v1
kind: Stack
metadata: {name: NAME}
spec:
  backend: local
  tags: [wml_fl_fhe_nb_example]
"""

PKI = """\
apiVersion: fldecl/v1
kind: CertificateAuthority
metadata: {name: issuer}
spec:
  subject: {common_name: test issuer}
  validity_days: 1000
  key_file: pki/ca-key.pem
  cert_file: pki/ca-cert.pem
---
apiVersion: fldecl/v1
kind: PartyCertificate
metadata: {name: party-1}
spec:
  issuer: issuer
  subject: {common_name: Party_1}
  key_file: pki/party-1-key.pem
  cert_file: pki/party-1-cert.pem
"""

MODEL = """\
apiVersion: fldecl/v1
kind: Model
metadata: {name: sgd}
spec:
  type: scikit-learn_1.1
  software_spec: {name: runtime-22.2-py3.10}
  model_file: model.pickle
  source:
    architecture: {framework: scikit-learn, estimator: SGDClassifier, n_features: 64, classes: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]}
"""

RTS = """\
apiVersion: fldecl/v1
kind: RemoteTrainingSystem
metadata: {name: Party_INDEX}
spec:
  description: DESCRIPTION
  organization: {name: IBM, region: US}
  allowed_identities: [{id: user-1, type: user}]
  remote_admin: {id: user-1, type: user}
"""


def write_stack(directory: Path, name: str = "core-test", *, pki: bool = True, model: bool = True, parties: int = 1,
                description: str = "a party") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "stack.yaml").write_text(STACK.replace("NAME", name))
    if pki:
        (directory / "pki.yaml").write_text(PKI)
    if model:
        (directory / "model.yaml").write_text(MODEL)
    docs = [RTS.replace("INDEX", str(i)).replace("DESCRIPTION", description) for i in range(1, parties + 1)]
    (directory / "rts.yaml").write_text("---\n".join(docs))
    return directory
