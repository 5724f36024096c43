"""Small stacks for the core tests, written as YAML files the way users write them."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

from tests.conftest import EXAMPLE


def stack_document(name: str, backend: str = "local", tags: tuple[str, ...] = (), settings: str = "") -> str:
    """The Stack manifest every test stack starts with; ``settings`` is its block for ``backend``, as flow YAML."""
    owned_tags = f"  tags: [{', '.join(tags)}]\n" if tags else ""
    block = f"  {backend}: {settings}\n" if settings else ""
    return f"apiVersion: fldecl/v1\nkind: Stack\nmetadata: {{name: {name}}}\nspec:\n  backend: {backend}\n{owned_tags}{block}"


def certificate_authority(name: str = "issuer", subject: str = "{common_name: test issuer}", *, files: str = "ca",
                          validity_days: int | None = 1000) -> str:
    """A CertificateAuthority whose key and certificate are ``pki/<files>-key.pem`` and ``pki/<files>-cert.pem``."""
    validity = f"  validity_days: {validity_days}\n" if validity_days is not None else ""
    return (f"apiVersion: fldecl/v1\nkind: CertificateAuthority\nmetadata: {{name: {name}}}\nspec:\n"
            f"  subject: {subject}\n{validity}  key_file: pki/{files}-key.pem\n  cert_file: pki/{files}-cert.pem\n")


def party_certificate(*, csr: bool = False, validity_days: int | None = None, index: int = 1) -> str:
    """PartyCertificate/party-INDEX issued by CertificateAuthority/issuer, from a key fldecl makes (for common name
    Party_INDEX) or from ``party-INDEX.csr`` (whose subject the certificate takes)."""
    validity = f"  validity_days: {validity_days}\n" if validity_days is not None else ""
    source = f"csr_file: party-{index}.csr" if csr else f"subject: {{common_name: Party_{index}}}\n  key_file: pki/party-{index}-key.pem"
    return (f"apiVersion: fldecl/v1\nkind: PartyCertificate\nmetadata: {{name: party-{index}}}\nspec:\n  issuer: issuer\n"
            f"{validity}  {source}\n  cert_file: pki/party-{index}-cert.pem\n")


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

PARTY = """\
  party:
    certificate: party-INDEX
    data_handler: {name: MnistPytorchDataHandler, path: handler.py}
    launch: LAUNCH
"""


def write_stack(directory: Path, name: str = "core-test", *, pki: bool = True, model: bool = True, parties: int = 1,
                description: str = "a party", backend: str = "local", settings: str = "", launch: str | None = None) -> Path:
    """A stack of a CA, a party certificate, a model and ``parties`` remote training systems on ``backend`` (``settings``:
    the Stack's block for it). With ``launch`` (auto, manual) each party declares how it runs: its own certificate
    (``party-INDEX``, common name ``Party_INDEX``), the example's data handler, and that launch."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "stack.yaml").write_text(stack_document(name, backend, ("wml_fl_fhe_nb_example",), settings))
    if pki:
        certificates = range(1, parties + 1) if launch else (1,)
        (directory / "pki.yaml").write_text(documents(certificate_authority(), *(party_certificate(index=i) for i in certificates)))
    if model:
        (directory / "model.yaml").write_text(MODEL)
    if launch:
        shutil.copyfile(EXAMPLE / "handlers" / "mnist_pytorch_data_handler.py", directory / "handler.py")
    party = PARTY.replace("LAUNCH", launch) if launch else ""
    docs = [(RTS + party).replace("INDEX", str(i)).replace("DESCRIPTION", description) for i in range(1, parties + 1)]
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
