"""On the wml backend too, the API key interpolated into a manifest reaches no output and no file of fldecl's."""

from __future__ import annotations

import re
from pathlib import Path

from fldecl.emulator import EmulatorServer
from tests.conftest import run_cli
from tests.core.stacks import write_stack
from tests.core.test_secrets import everything_written
from tests.wml.conftest import cli_env


def test_the_api_key_in_a_description_is_kept_a_reference_and_never_printed(tmp_path: Path, emulator: EmulatorServer) -> None:
    env = cli_env(emulator.env())
    api_key = env["WML_APIKEY"]
    stack = write_stack(tmp_path / "stack", pki=False, model=False, parties=2, description="key is ${WML_APIKEY}")
    outputs = []
    for arguments in (["plan"], ["plan", "--json"], ["plan", "--format", "markdown"], ["plan", "--out", str(stack / "plan.json")],
                      ["apply", "--auto-approve"], ["show"], ["show", "--json"], ["plan", "--detailed-exitcode"],
                      ["destroy", "--auto-approve"]):
        result = run_cli(arguments[0], str(stack), "--backend", "wml", *arguments[1:], env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        outputs.append(result.stdout + result.stderr)
    assert api_key not in "\n".join(outputs)
    assert api_key not in everything_written(stack)
    assert re.search(r"\+ description += \(sensitive value\)\n", outputs[0])  # aligned with its siblings
