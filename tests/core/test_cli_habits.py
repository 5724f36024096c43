"""Terraform's habits through the CLI: usage errors exit 1, `state list` / `state rm`, `logs`, NO_COLOR."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.core.stacks import write_stack


@pytest.mark.parametrize(("arguments", "message"), [
    (("plan", "--detailed-exitcod"), "No such option '--detailed-exitcod'. Did you mean '--detailed-exitcode'?"),
    (("party", "run"), "Missing argument 'RTS_NAME'."),
    (("plan", "--format", "xml"), "'xml' is not one of 'text', 'json', 'markdown'"),
    (("aply",), "No such command 'aply'."),
    (("emulator", "serve", "--prot", "1"), "unrecognized arguments: --prot"),
])
def test_usage_errors_exit_1_never_the_2_of_detailed_exitcode(tmp_path: Path, arguments: tuple[str, ...], message: str) -> None:
    result = run_cli(*arguments, cwd=tmp_path, timeout=60)
    assert result.returncode == 1, result.stderr
    assert message in result.stderr
