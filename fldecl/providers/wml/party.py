"""A party of a WML training, run on this machine with WML's own party runtime (the seed's step 10).

The party's settings come from the stack: its remote training system, its certificate and the
CA that issued it (for the HE key distribution), and its data handler. IBM's client runs the
party; its runtime needs extras that fldecl does not install, and a missing one is reported as
the exact ``pip install`` to run.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fldecl.core.manifest import Declaration, Stack
from fldecl.providers.base import Observed, ProviderError
from fldecl.providers.wml.connection import Credentials, WmlSession

CRYPTO_LIBRARY = "pyhelayers"
# What the client's party runtime (its bundled ``ibmfl``) imports beyond the client's own dependencies.
RUNTIME_MODULES = ("environs", "websockets", "msgpack", "msgpack_numpy", "numcompress", "ddsketch", "parse", "skops",
                   "scipy", "sklearn", "yaml", "google.protobuf")
RUNTIME_EXTRA = "pip install 'ibm-watson-machine-learning[fl-rt23.1-py3.10]'"
CRYPTO_EXTRA = "pip install 'ibm-watson-machine-learning[fl-crypto]'"


def party_metadata(rts: Observed, certificate: Observed, authority: Observed, stack_dir: Path) -> dict[str, Any]:
    """The seed's party metadata: the key distribution files for HE, and the data handler.

    Paths are made absolute against ``stack_dir``, as the party runtime resolves them from its
    own working directory.
    """
    from fldecl.data.handlers import resolve_info_paths  # the local runtime's rule for paths in a handler's info

    party = rts.attributes.get("party")
    if not party:
        raise ProviderError(f"{rts.address} declares no party settings (spec.party: certificate and data_handler)")
    key_file = certificate.attributes.get("key_file")
    if not key_file:
        raise ProviderError(f"{certificate.address} signs a CSR, so the party's private key is not in the stack; "
                            "run the party where its key is, with a manifest that names the key_file")
    handler = party["data_handler"]
    return {
        "local_training": {"info": {"crypto": {"key_manager": {"key_mgr_info": {"distribution": {
            "ca_cert_file_path": str(stack_dir / authority.attributes["cert_file"]),
            "my_cert_file_path": str(stack_dir / certificate.attributes["cert_file"]),
            "asym_key_file_path": str(stack_dir / key_file),
        }}}}}},
        "data_handler": {"name": handler["name"], "path": str(stack_dir / handler["path"]),
                         "info": resolve_info_paths(handler.get("info", {}), stack_dir)},
    }


def run_party(stack: Stack, rts: Declaration, observed: Mapping[str, Observed], training: Observed) -> None:
    """Join ``training`` as the party ``rts`` and train until the training ends.

    The calling terminal is the party: the client's runtime prints its own progress.
    """
    current = observed.get(rts.address)
    if current is None:
        raise ProviderError(f"{rts.address} does not exist on WML; run `fldecl apply` first")
    certificate = _dependency(observed, "PartyCertificate", (current.attributes.get("party") or {}).get("certificate"))
    authority = _dependency(observed, "CertificateAuthority", certificate.attributes.get("issuer"))
    metadata = party_metadata(current, certificate, authority, stack.directory)
    session = WmlSession(Credentials.from_environment(os.environ))
    document = session.retried(lambda client: client.training.get_details(training.id, _internal=True),
                               f"reading {training.address}")
    fusion_type = ((document.get("entity") or {}).get("federated_learning") or {}).get("fusion_type")
    _check_runtime(fusion_type)
    # The runtime reports its failures only through this logger and then returns as if it had finished.
    logging.getLogger("ibm_watson_machine_learning.party_wrapper").setLevel(logging.WARNING)
    try:
        party = session.client.remote_training_systems.create_party(current.id, metadata)
        party.run(aggregator_id=training.id, asynchronous=False)
    except Exception as exc:
        if type(exc).__name__ != "FLException":
            raise session.translate(exc, f"running {rts.address}") from exc
        raise ProviderError(session.clean(f"{rts.address}: WML's party runtime stopped: {exc}")) from exc
    if party.Party is None:
        raise ProviderError(f"{rts.address}: WML's party runtime did not start (its errors are above)")


def _check_runtime(fusion_type: str | None) -> None:
    """The runtime swallows its own import errors, so what it needs is checked before it starts."""
    needs = []
    missing = [module for module in RUNTIME_MODULES if not _importable(module)]
    if missing:
        needs.append(f"{', '.join(missing)} ({RUNTIME_EXTRA})")
    if fusion_type == "crypto_iter_avg" and not _importable(CRYPTO_LIBRARY):
        needs.append(f"{CRYPTO_LIBRARY} to encrypt the model updates of crypto_iter_avg ({CRYPTO_EXTRA})")
    if needs:
        raise ProviderError("WML's party runtime needs " + "; and ".join(needs))


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a dotted name whose parent package is missing
        return False


def _dependency(observed: Mapping[str, Observed], kind: str, resource_id: str | None) -> Observed:
    found = next((obs for obs in observed.values() if obs.kind == kind and obs.id == resource_id), None)
    if found is None:
        raise ProviderError(f"the {kind} {resource_id} this party needs does not exist; run `fldecl apply` first")
    return found
