"""Secrets never printed, however they get in: credential variables and the ones a stack marks
sensitive stay references in what fldecl stores, sends and prints, and show as (sensitive value)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fldecl.data import DataError
from fldecl.data.handlers import handler_config
from tests.conftest import run_cli
from tests.core.stacks import write_stack

CANARY = "canary-4f1c9a7e-api-key"
PARTY_SECRET = "canary-party-token-7d2b"


def secret_stack(directory: Path) -> Path:
    stack = write_stack(directory, pki=False, model=False, parties=2, description="key is ${WML_APIKEY}")
    (stack / "stack.yaml").write_text((stack / "stack.yaml").read_text() + "  sensitive_variables: [PARTY_TOKEN]\n")
    rts = (stack / "rts.yaml").read_text().replace("description: key is ${WML_APIKEY}\n  organization",
                                                   "description: token ${PARTY_TOKEN}\n  organization", 1)
    (stack / "rts.yaml").write_text(rts)
    return stack


def everything_written(stack: Path) -> str:
    """The bytes of every file in the stack directory, state included."""
    return "\n".join(path.read_bytes().decode("latin-1") for path in sorted(stack.rglob("*")) if path.is_file())


def test_a_secret_interpolated_into_a_manifest_appears_in_no_output_and_no_file(tmp_path: Path) -> None:
    stack = secret_stack(tmp_path / "stack")
    env = {"WML_APIKEY": CANARY, "PARTY_TOKEN": PARTY_SECRET}
    outputs = []
    for arguments in (["validate"], ["plan"], ["plan", "--json"], ["plan", "--format", "markdown"],
                      ["plan", "--out", str(stack / "plan.json")], ["apply", "--auto-approve"], ["show"], ["show", "--json"],
                      ["plan", "--detailed-exitcode"], ["destroy", "--auto-approve"]):
        result = run_cli(arguments[0], str(stack), *arguments[1:], env=env)
        assert result.returncode in (0, 2), result.stdout + result.stderr
        outputs.append(result.stdout + result.stderr)
    printed = "\n".join(outputs)
    assert CANARY not in printed and PARTY_SECRET not in printed
    assert CANARY not in everything_written(stack) and PARTY_SECRET not in everything_written(stack)
    assert '+ description = "key is (sensitive value)"' not in printed, "a sensitive value is masked whole"
    assert re.search(r"\+ description += \(sensitive value\)\n", outputs[1])  # aligned with its siblings
    assert '"description": "(sensitive value)"' in outputs[2]


def test_a_changed_sensitive_field_still_shows_as_a_change(tmp_path: Path) -> None:
    stack = secret_stack(tmp_path / "stack")
    env = {"WML_APIKEY": CANARY, "PARTY_TOKEN": PARTY_SECRET}
    assert run_cli("apply", str(stack), "--auto-approve", env=env).returncode == 0
    rts = stack / "rts.yaml"
    rts.write_text(rts.read_text().replace("key is ${WML_APIKEY}", "the key, ${WML_APIKEY}"))
    result = run_cli("plan", str(stack), "--detailed-exitcode", env=env)
    assert result.returncode == 2
    assert "~ description = (sensitive value) -> (sensitive value)" in result.stdout
    assert CANARY not in result.stdout


def test_a_literal_secret_value_is_scrubbed_from_output(tmp_path: Path) -> None:
    stack = write_stack(tmp_path / "stack", pki=False, model=False, parties=1, description=CANARY)
    result = run_cli("plan", str(stack), env={"WML_APIKEY": CANARY})
    assert CANARY not in result.stdout and "(sensitive value)" in result.stdout


def test_a_party_resolves_its_sensitive_settings_from_its_own_environment(tmp_path: Path) -> None:
    info = {"token": "${PARTY_TOKEN}", "npz_file": "data/party.npz", "plain": "$${kept}"}
    assert handler_config(info, tmp_path, {"PARTY_TOKEN": PARTY_SECRET}) == {
        "token": PARTY_SECRET, "npz_file": str(tmp_path / "data/party.npz"), "plain": "${kept}"}
    with pytest.raises(DataError, match="needs PARTY_TOKEN, which is not set in this party's environment"):
        handler_config(info, tmp_path, {})
