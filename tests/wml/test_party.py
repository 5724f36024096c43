"""Parties on WML: the seed's party metadata from the stack, and one-line hints when IBM's party runtime is missing."""

from __future__ import annotations

import importlib.util
from types import ModuleType
from typing import Any

import pytest

from fldecl.core.contract import Observed, ProviderContext
from fldecl.core.errors import ProviderError
from fldecl.core.stack import Stack
from fldecl.data.handlers import handler_config
from fldecl.kinds import load_stack
from fldecl.kinds.training_run import PartyRun
from fldecl.launch.parties import party_identity, party_settings
from fldecl.providers.wml.connection import Credentials, WmlSession
from fldecl.providers.wml.party import PARTY_RUNTIMES, RUNTIME_FILE, party_metadata, run_party


def metadata_of(rts: Observed, certificate: Observed, authority: Observed, root: Any) -> dict[str, Any]:
    related = {obs.id: obs for obs in (rts, certificate, authority)}
    settings = party_settings(party_identity(rts, related), root)
    return party_metadata(settings, handler_config(settings.data_handler_info, settings.path(".")))


class Silent:
    def progress(self, address: str, message: str) -> None: ...


def declared(stack: Stack, address: str, resource_id: str, **attributes: Any) -> Observed:
    decl = stack.declarations[address]
    return Observed(decl.kind, decl.name, resource_id, stack.all_tags, {**decl.spec, **attributes})


@pytest.fixture
def party_stack(make_stack: Any) -> tuple[Stack, dict[str, Observed]]:
    """The example's first party as the backend would report it (ids are placeholders)."""
    stack = load_stack(make_stack(), backend_override="wml")
    authority = declared(stack, "CertificateAuthority/issuer", "ca-fingerprint")
    certificate = declared(stack, "PartyCertificate/party-1", "cert-fingerprint", issuer=authority.id)
    party = {**stack.declarations["RemoteTrainingSystem/Party_1"].spec["party"], "certificate": certificate.id}
    rts = declared(stack, "RemoteTrainingSystem/Party_1", "rts-id", party=party)
    return stack, {obs.address: obs for obs in (authority, certificate, rts)}


def test_party_metadata_has_the_seeds_structure(party_stack: tuple[Stack, dict[str, Observed]]) -> None:
    stack, observed = party_stack
    root = stack.directory
    metadata = metadata_of(observed["RemoteTrainingSystem/Party_1"], observed["PartyCertificate/party-1"],
                           observed["CertificateAuthority/issuer"], root)
    assert metadata == {
        "local_training": {"info": {"crypto": {"key_manager": {"key_mgr_info": {"distribution": {
            "ca_cert_file_path": str(root / "pki/is_cert_v1.pem"),
            "my_cert_file_path": str(root / "pki/sb_cert_v1_1.pem"),
            "asym_key_file_path": str(root / "pki/sb_asym_v1_1.pem")}}}}}},
        "data_handler": {"name": "MnistPytorchDataHandler", "path": str(root / "handlers/mnist_pytorch_data_handler.py"),
                         "info": {"npz_file": str(root / "data/data_party_1.npz")}}}


def test_a_party_whose_key_stays_with_it_cannot_run_here(party_stack: tuple[Stack, dict[str, Observed]]) -> None:
    stack, observed = party_stack
    certificate = observed["PartyCertificate/party-1"]
    signed_csr = Observed(certificate.kind, certificate.name, certificate.id, certificate.tags,
                          {key: value for key, value in certificate.attributes.items() if key != "key_file"})
    with pytest.raises(ProviderError, match="signs a CSR"):
        metadata_of(observed["RemoteTrainingSystem/Party_1"], signed_csr, observed["CertificateAuthority/issuer"],
                    stack.directory)


def party_runtime() -> ModuleType:
    """The party runtime file as the party's Python runs it: by its path, outside the fldecl package."""
    spec = importlib.util.spec_from_file_location("party_runtime_under_test", RUNTIME_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_party_runtime_says_in_one_line_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = party_runtime()
    monkeypatch.setattr(runtime, "_importable", lambda module: module not in ("websockets", "pyhelayers", "ibm_watsonx_ai"))
    with pytest.raises(runtime.Missing, match=r"needs websockets; pip install 'fldecl\[wml-party\]'"):
        runtime.check_modules("ibm-watsonx-ai", "iter_avg", "pytorch")
    with pytest.raises(runtime.Missing, match=r"needs websockets; pip install 'fldecl\[wml-party-23\]'"):
        runtime.check_modules("ibm-watson-machine-learning", "iter_avg", "pytorch")
    with pytest.raises(runtime.Missing, match=r"IBM HElayers, which is not installed; pip install 'fldecl\[helayers\]'"):
        monkeypatch.setattr(runtime, "_importable", lambda module: module != "pyhelayers")
        runtime.check_modules("ibm-watsonx-ai", "crypto_iter_avg", "pytorch")
    with pytest.raises(runtime.Missing, match="runtime-24.1-py3.11"):
        runtime.check_software_spec("ibm-watsonx-ai", {"name": "runtime-22.2-py3.10"})
    monkeypatch.setattr(runtime.platform, "python_version_tuple", lambda: ("3", "12", "0"))
    with pytest.raises(runtime.Missing, match=r"on Python 3.10 .*\(this is Python 3.12\); pip install 'fldecl\[wml-party-23\]'"):
        runtime.check_client("ibm-watson-machine-learning")


def test_party_run_without_its_party_runtime_names_the_setting(wml_env: dict[str, str], party_stack: tuple[Stack, dict[str, Observed]],
                                                               monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    stack, observed = party_stack
    # The party declares runtime 23.1: ibm-watson-machine-learning is installed here, but its runtime needs Python 3.10.
    observed["RemoteTrainingSystem/Party_1"].attributes["party"]["runtime"] = "runtime-23.1-py3.10"
    python_variable = PARTY_RUNTIMES["runtime-23.1-py3.10"].python_variable
    monkeypatch.delenv(python_variable, raising=False)
    client = WmlSession(Credentials.from_environment(wml_env)).client
    rts = client.remote_training_systems.store({"name": "Party_1", "allowed_identities": []})
    observed["RemoteTrainingSystem/Party_1"].id = rts["metadata"]["id"]
    model = declared(stack, "Model/pytorch", "model-id")
    made = client.training.run({
        "name": "aggregator_he", "description": "", "training_data_references": [],
        "results_reference": {"type": "container", "name": "outputData", "connection": {}, "location": {"path": "."}},
        "federated_learning": {"fusion_type": "iter_avg", "model": {"type": "pytorch", "spec": {"id": model.id}},
                               "remote_training": {"quorum": 1, "remote_training_systems": [{"id": rts["metadata"]["id"]}]}}})
    training = Observed("Training", "aggregator_he", made["metadata"]["id"], stack.all_tags, {"model": model.id})
    related = {obs.id: obs for obs in (*observed.values(), model)}
    run = PartyRun(observed["RemoteTrainingSystem/Party_1"], training, related)
    ctx = ProviderContext(stack.name, stack.directory, stack.state_dir, stack.owner_tag, Silent())
    with pytest.raises(ProviderError) as caught:
        run_party(WmlSession(Credentials.from_environment(wml_env)), run, ctx)
    assert "ibm-watson-machine-learning runs its party runtime on Python 3.10" in str(caught.value)
    assert python_variable in str(caught.value) and "fldecl[wml-party-23" in str(caught.value)

    monkeypatch.setenv(python_variable, str(tmp_path / "no-such-venv" / "bin" / "python"))
    with pytest.raises(ProviderError, match=rf"{python_variable}=\S+ does not exist; .*make \.venv-party-23/\.installed"):
        run_party(WmlSession(Credentials.from_environment(wml_env)), run, ctx)
