"""Small stacks for the core tests, written as YAML files the way users write them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def stack_document(name: str, backend: str = "local", tags: tuple[str, ...] = ()) -> str:
    """The Stack manifest every test stack starts with."""
    owned_tags = f"  tags: [{', '.join(tags)}]\n" if tags else ""
    return f"apiVersion: fldecl/v1\nkind: Stack\nmetadata: {{name: {name}}}\nspec:\n  backend: {backend}\n{owned_tags}"


def certificate_authority(name: str = "issuer", subject: str = "{common_name: test issuer}", *, files: str = "ca",
                          validity_days: int | None = 1000) -> str:
    """A CertificateAuthority whose key and certificate are ``pki/<files>-key.pem`` and ``pki/<files>-cert.pem``."""
    validity = f"  validity_days: {validity_days}\n" if validity_days is not None else ""
    return (f"apiVersion: fldecl/v1\nkind: CertificateAuthority\nmetadata: {{name: {name}}}\nspec:\n"
            f"  subject: {subject}\n{validity}  key_file: pki/{files}-key.pem\n  cert_file: pki/{files}-cert.pem\n")


def party_certificate(*, csr: bool = False, validity_days: int | None = None) -> str:
    """PartyCertificate/party-1 issued by CertificateAuthority/issuer, from a key fldecl makes or from ``party-1.csr``
    (whose subject the certificate takes)."""
    validity = f"  validity_days: {validity_days}\n" if validity_days is not None else ""
    source = "csr_file: party-1.csr" if csr else "subject: {common_name: Party_1}\n  key_file: pki/party-1-key.pem"
    return (f"apiVersion: fldecl/v1\nkind: PartyCertificate\nmetadata: {{name: party-1}}\nspec:\n  issuer: issuer\n"
            f"{validity}  {source}\n  cert_file: pki/party-1-cert.pem\n")


def documents(*texts: str) -> str:
    """Several manifests in one YAML file."""
    return "---\n".join(texts)


PKI = documents(certificate_authority(), party_certificate())

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
    (directory / "stack.yaml").write_text(stack_document(name, tags=("wml_fl_fhe_nb_example",)))
    if pki:
        (directory / "pki.yaml").write_text(PKI)
    if model:
        (directory / "model.yaml").write_text(MODEL)
    docs = [RTS.replace("INDEX", str(i)).replace("DESCRIPTION", description) for i in range(1, parties + 1)]
    (directory / "rts.yaml").write_text("---\n".join(docs))
    return directory


def write_files(directory: Path, stack: str, files: Mapping[str, str | bytes]) -> Path:
    """A stack directory holding ``stack.yaml`` (the ``stack`` document) and ``files``, by name relative to it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "stack.yaml").write_text(stack)
    for name, content in files.items():
        path = directory / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return directory
