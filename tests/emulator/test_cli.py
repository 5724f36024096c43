"""``python -m fldecl.emulator`` prints the exports a client needs, serves, and stops on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from fldecl.emulator.__main__ import knobs, parse_arguments


def test_module_entry_point_serves_and_prints_exports(tmp_path: Path) -> None:
    process = subprocess.Popen([sys.executable, "-m", "fldecl.emulator", "--port", "0", "--data", str(tmp_path),
                                "--api-key", "ci-key", "--simulate-trainings", "--manual-trainings"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        exports: dict[str, str] = {}
        for line in process.stdout:
            if line.startswith("# Ctrl-C"):
                break
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").strip().partition("=")
                exports[name] = value
        assert set(exports) == {"WML_URL", "WML_USERNAME", "WML_APIKEY", "WML_INSTANCE_ID", "WML_VERSION",
                                "WML_PROJECT_ID", "WML_CA_BUNDLE"}
        assert exports["WML_APIKEY"] == "ci-key" and exports["WML_INSTANCE_ID"] == "openshift"
        assert Path(exports["WML_CA_BUNDLE"]).is_relative_to(tmp_path)
        token = requests.post(f"{exports['WML_URL']}/icp4d-api/v1/authorize", verify=exports["WML_CA_BUNDLE"],
                              json={"username": exports["WML_USERNAME"], "api_key": exports["WML_APIKEY"]})
        assert token.status_code == 200
        project = requests.get(f"{exports['WML_URL']}/v2/projects/{exports['WML_PROJECT_ID']}",
                               verify=exports["WML_CA_BUNDLE"],
                               headers={"Authorization": f"Bearer {token.json()['token']}"})
        assert project.json()["entity"]["storage"]["type"] == "assetfiles"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0, process.stderr.read()
    assert (tmp_path / "emulator.sqlite3").exists()


def test_trainings_are_real_unless_simulation_is_asked_for(capsys: pytest.CaptureFixture[str]) -> None:
    assert knobs(parse_arguments([]))["simulate_trainings"] is False
    simulated = knobs(parse_arguments(["--simulate-trainings", "--training-seconds", "3"]))
    assert simulated["simulate_trainings"] is True and simulated["training_seconds"] == 3
    with pytest.raises(SystemExit):
        parse_arguments(["--training-seconds", "3"])
    assert "only with --simulate-trainings" in capsys.readouterr().err


def test_fldecl_emulator_serve_is_the_same_command_line() -> None:
    shown = subprocess.run([sys.executable, "-m", "fldecl", "emulator", "serve", "--help"], capture_output=True, text=True)
    assert shown.returncode == 0
    assert "usage: fldecl emulator serve" in shown.stdout
    for knob in ("--port", "--data", "--latency-ms", "--error-rate", "--drop-rate", "--manual-trainings"):
        assert knob in shown.stdout
    assert "SIMULATE trainings" in shown.stdout and "no party ever joined" in shown.stdout
