"""A party with nothing but ``fldecl party config --format python`` output and IBM's party notebook code.

Runs in its own process, as a party's notebook would (IBM's runtime puts its own ``ibmfl`` in
``sys.modules``). Usage: ``python party_kit_driver.py KIT_FILE RESULT_FILE``, with the emulator's
``WML_*`` variables set. It signs in, calls ``create_party(rts_id, party_metadata)`` as the
notebook does, then loads what the party configuration names as IBM's runtime does: the data
handler from its file, with its info, and (with the runtime's own classes) the key distribution's
CA certificate, certificate and private key. What each step found goes to RESULT_FILE as JSON. ``party.run(aggregator_id=training_id)``
needs WML's aggregator, which the emulator does not serve yet; the training it would join is read
as ``party.run`` first reads it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

from fldecl.providers.wml.connection import Credentials, WmlSession


def main(kit_file: Path, result_file: Path) -> None:
    kit: dict[str, Any] = {}
    exec(compile(kit_file.read_text(), str(kit_file), "exec"), kit)  # the notebook cell the party pastes
    client = WmlSession(Credentials.from_environment(os.environ)).client
    party = client.remote_training_systems.create_party(kit["rts_id"], kit["party_metadata"])
    config = party.args["config_dict"]

    from ibmfl.crypto.infra.crypto_asym_imp_rsa import CryptoAsymRsa  # IBM's runtime, loaded by create_party
    from ibmfl.crypto.infra.crypto_cert_imp_rsa import CryptoCertRsa

    (x_train, _), (x_test, _) = data_handler(config["data"]).get_data()
    distribution = config["local_training"]["info"]["crypto"]["key_manager"]["key_mgr_info"]["distribution"]
    certificate = CryptoCertRsa(distribution["ca_cert_file_path"], distribution["my_cert_file_path"])
    key = CryptoAsymRsa(distribution["asym_key_file_path"])
    training = client.training.get_details(kit["training_id"], _internal=True)
    result_file.write_text(json.dumps({
        "connection_id": config["connection"]["info"]["id"],
        "train_shape": list(x_train.shape), "test_points": len(x_test),
        "key_matches_certificate": key.get_public_key().public_numbers() == certificate.my_cert.public_key().public_numbers(),
        "training_state": training["entity"]["status"]["state"],
        "fusion_type": training["entity"]["federated_learning"]["fusion_type"],
    }))


def data_handler(data: dict[str, Any]) -> Any:
    """The handler the party configuration names, loaded as the runtime's ``ibmfl.util.config.get_data_from_config``
    loads it: the class ``name`` from the file at ``path``, built with ``info`` (that module itself needs the
    runtime's extras, which a party installs; the handler's ``DataHandler`` base is IBM's)."""
    spec = importlib.util.spec_from_file_location(Path(data["path"]).stem, data["path"])
    assert spec is not None and spec.loader is not None, data["path"]
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, data["name"])(data_config=data["info"])


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
