"""A party of a WML training, run on this machine with WML's own party runtime (the seed's step 10).

The party's settings come from the stack (:func:`fldecl.launch.parties.party_settings`): its
certificate and the CA that issued it (for the HE key distribution), and its data handler. IBM's
client runs the party; its runtime needs extras that fldecl does not install, and a missing one
is reported as the exact ``pip install`` to run.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

from fldecl.core.contract import PartyKit, PartyRun, ProviderContext
from fldecl.core.errors import ProviderError
from fldecl.data.handlers import handler_config, info_with_paths
from fldecl.fl.job import PartySettings
from fldecl.launch.parties import party_identity, party_settings
from fldecl.providers.wml.connection import WmlSession
from fldecl.vocabulary import CRYPTO_ITER_AVG

CRYPTO_LIBRARY = "pyhelayers"
# What the client's party runtime (its bundled ``ibmfl``) imports beyond the client's own dependencies.
RUNTIME_MODULES = ("environs", "websockets", "msgpack", "msgpack_numpy", "numcompress", "ddsketch", "parse", "skops",
                   "scipy", "sklearn", "yaml", "google.protobuf")
RUNTIME_EXTRA = "pip install 'ibm-watson-machine-learning[fl-rt23.1-py3.10]'"
CRYPTO_EXTRA = "pip install 'ibm-watson-machine-learning[fl-crypto]'"


def party_metadata(settings: PartySettings, data_info: dict[str, Any]) -> dict[str, Any]:
    """The seed's party metadata: the key distribution files for HE, and the data handler with ``data_info``.

    Paths are under the settings' stack directory (absolute for this machine's), as the party
    runtime resolves relative ones from its own working directory.
    """
    return {
        "local_training": {"info": {"crypto": {"key_manager": {"key_mgr_info": {"distribution": {
            "ca_cert_file_path": settings.ca_cert_file,
            "my_cert_file_path": settings.cert_file,
            "asym_key_file_path": settings.key_file,
        }}}}}},
        "data_handler": {"name": settings.data_handler_class, "path": settings.data_handler_path,
                         "info": data_info},
    }


def party_kit(run: PartyRun, party_dir: Path) -> PartyKit:
    """The ids and the ``create_party`` metadata IBM's party notebook needs, its paths under ``party_dir``;
    references to sensitive variables in the handler's info are left for the party to resolve."""
    settings = party_settings(party_identity(run.rts, run.related), party_dir, run.key_file)
    metadata = party_metadata(settings, info_with_paths(settings.data_handler_info, settings.path(".")))
    return PartyKit(run.rts.name, run.training.name, run.rts.id, run.training.id, metadata)


def run_party(session: WmlSession, run: PartyRun, ctx: ProviderContext) -> None:
    """Join ``run.training`` as the party ``run.rts`` and train until the training ends.

    The calling terminal is the party: the client's runtime prints its own progress.
    """
    rts, training = run.rts, run.training
    settings = party_settings(party_identity(rts, run.related), ctx.stack_dir, run.key_file)
    metadata = party_metadata(settings, handler_config(settings.data_handler_info, settings.path(".")))
    document = session.retried(lambda client: client.training.get_details(training.id, _internal=True), f"reading {training.address}")
    fusion_type = ((document.get("entity") or {}).get("federated_learning") or {}).get("fusion_type")
    _check_runtime(fusion_type)
    # The runtime reports its failures only through this logger and then returns as if it had finished.
    logging.getLogger("ibm_watson_machine_learning.party_wrapper").setLevel(logging.WARNING)
    try:
        party = session.client.remote_training_systems.create_party(rts.id, metadata)
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
    if fusion_type == CRYPTO_ITER_AVG and not _importable(CRYPTO_LIBRARY):
        needs.append(f"{CRYPTO_LIBRARY} to encrypt the model updates of {CRYPTO_ITER_AVG} ({CRYPTO_EXTRA})")
    if needs:
        raise ProviderError("WML's party runtime needs " + "; and ".join(needs))


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a dotted name whose parent package is missing
        return False
