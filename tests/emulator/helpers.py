"""Helpers shared by the emulator tests: the real client in a subprocess, sessions, polling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from fldecl.emulator import EmulatorServer

DRIVER = Path(__file__).with_name("client_driver.py")
CLIENT_TIMEOUT_SECONDS = 300


def run_client(emulator: EmulatorServer, workdir: Path, *scenarios: str) -> dict[str, Any]:
    """Run scenarios of ``client_driver.py`` in a subprocess, with TLS verification forced on."""
    result_file = workdir / "client-results.json"
    settings = {"url": emulator.url, "project_id": emulator.project_id,
                "credentials": {kind: emulator.credentials(kind) for kind in ("apikey", "password", "token")}}
    environment = {**os.environ, "EMULATOR_CREDENTIALS": json.dumps(settings),
                   "REQUESTS_CA_BUNDLE": str(emulator.ca_file), "CURL_CA_BUNDLE": str(emulator.ca_file),
                   "WML_CLIENT_VERIFY_REQUESTS": "True"}
    completed = subprocess.run([sys.executable, str(DRIVER), str(result_file), *scenarios], env=environment,
                               cwd=workdir, capture_output=True, text=True, timeout=CLIENT_TIMEOUT_SECONDS)
    assert completed.returncode == 0, completed.stderr
    results = json.loads(result_file.read_text())
    crashed = [outcome["crashed"] for outcome in results.values() if "crashed" in outcome]
    assert not crashed, "\n".join(crashed)
    return results


def session_for(emulator: EmulatorServer) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = str(emulator.ca_file)
    session.headers["Authorization"] = f"Bearer {emulator.token()}"
    return session


def wait_for_state(emulator: EmulatorServer, training_id: str, state: str, timeout: float = 10.0) -> bool:
    """Poll the store (not the API, to leave request stats alone) until the training is in ``state``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        document = emulator.app.store.get("training", training_id)
        if document and document["entity"]["status"]["state"] == state:
            return True
        time.sleep(0.05)
    return False
