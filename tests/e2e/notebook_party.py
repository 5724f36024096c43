"""IBM's party notebook, given nothing of fldecl but the output of ``fldecl party config --format python``.

Run by the party's Python (IBM's runtime, ``.venv-party``): ``python notebook_party.py KIT_FILE``, with
the emulator's ``WML_*`` variables set. It signs in as the notebook does (with TLS verified against
``WML_CA_BUNDLE``, where the notebook turns verification off), pastes the kit, and runs the party's
two calls; it imports nothing of fldecl.
"""

from __future__ import annotations

import os
import platform
import sys

from ibm_watsonx_ai import APIClient, Credentials


def main(kit_file: str) -> None:
    env = os.environ
    os.environ["SSL_CERT_FILE"] = os.environ["REQUESTS_CA_BUNDLE"] = env["WML_CA_BUNDLE"]  # the runtime's websocket and probe
    wml_client = APIClient(credentials=Credentials(url=env["WML_URL"], username=env["WML_USERNAME"], api_key=env["WML_APIKEY"],
                                                   instance_id=env["WML_INSTANCE_ID"], version=env["WML_VERSION"],
                                                   verify=env["WML_CA_BUNDLE"]))
    wml_client.set.default_project(env["WML_PROJECT_ID"])
    print(f"ibm-watsonx-ai {wml_client.version} on Python {platform.python_version()}", flush=True)  # the notebook's client
    kit: dict[str, object] = {}
    with open(kit_file, encoding="utf-8") as cell:
        exec(cell.read(), kit)  # the notebook cell the party pastes
    party = wml_client.remote_training_systems.create_party(kit["rts_id"], kit["party_metadata"])
    party.run(aggregator_id=kit["training_id"], asynchronous=False)


if __name__ == "__main__":
    main(sys.argv[1])
