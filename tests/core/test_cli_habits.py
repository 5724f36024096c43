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


def test_state_list_and_state_rm_forget_without_deleting(tmp_path: Path) -> None:
    import sqlite3

    stack = write_stack(tmp_path / "stack", model=False, parties=2)
    assert run_cli("apply", str(stack), "--auto-approve").returncode == 0
    listed = run_cli("state", "list", str(stack))
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == ["CertificateAuthority/issuer", "PartyCertificate/party-1",
                                          "RemoteTrainingSystem/Party_1", "RemoteTrainingSystem/Party_2"]
    removed = run_cli("state", "rm", "RemoteTrainingSystem/Party_2", str(stack))
    assert removed.returncode == 0, removed.stderr
    assert "Removed RemoteTrainingSystem/Party_2 (id " in removed.stdout
    assert "removed the tag fldecl.stack.core-test; the resource stays in the local backend" in removed.stdout
    with sqlite3.connect(stack / ".fldecl" / "local.db") as conn:
        names = conn.execute("SELECT name FROM resources WHERE kind = 'RemoteTrainingSystem' ORDER BY name").fetchall()
    assert names == [("Party_1",), ("Party_2",)], "the resource still exists in the backend"
    assert "RemoteTrainingSystem/Party_2" not in run_cli("state", "list", str(stack)).stdout
    plan = run_cli("plan", str(stack))
    assert plan.stdout.startswith("Plan: 1 to create, 0 to update, 0 to replace, 0 to delete."), plan.stdout
    assert "# RemoteTrainingSystem/Party_2 will be created" in plan.stdout
    again = run_cli("state", "rm", "RemoteTrainingSystem/Party_2", str(stack))
    assert again.returncode == 1 and "is not in the stack's state" in again.stderr


def test_state_rm_of_a_certificate_drops_the_record_and_keeps_the_files(tmp_path: Path) -> None:
    stack = write_stack(tmp_path / "stack", model=False, parties=1)
    assert run_cli("apply", str(stack), "--auto-approve").returncode == 0
    removed = run_cli("state", "rm", "PartyCertificate/party-1", str(stack))
    assert removed.returncode == 0, removed.stderr
    assert "dropped fldecl's record of it; its files stay where they are" in removed.stdout
    assert (stack / "pki/party-1-key.pem").is_file() and (stack / "pki/party-1-cert.pem").is_file()
    assert "PartyCertificate/party-1" not in run_cli("state", "list", str(stack)).stdout


def on_a_terminal(arguments: list[str], env: dict[str, str]) -> bytes:
    """What `fldecl ARGUMENTS` writes to a terminal (a pseudo-terminal as its stdout and stderr)."""
    import os
    import pty
    import subprocess
    import sys

    primary, secondary = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "fldecl", *arguments], stdin=subprocess.DEVNULL, stdout=secondary,
                               stderr=secondary, env=env)
    os.close(secondary)
    output = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the terminal closed: the process exited
            break
        if not chunk:
            break
        output += chunk
    os.close(primary)
    assert process.wait(timeout=60) == 0, output
    return output


def test_no_color_turns_every_escape_sequence_off(tmp_path: Path) -> None:
    import os

    stack = write_stack(tmp_path / "stack", pki=False, model=False)
    env = {name: value for name, value in os.environ.items() if name != "NO_COLOR"}
    for command in (["validate", str(stack)], ["plan", str(stack)]):
        assert b"\x1b[" in on_a_terminal(command, env), "styled on a terminal"
        plain = on_a_terminal(command, {**env, "NO_COLOR": "1"})
        assert b"\x1b[" not in plain, plain
        assert b"Plan: 1 to create" in plain or b"Success!" in plain, plain


@pytest.mark.parametrize(("seconds", "text"), [(10, "10s"), (60, "1m0s"), (70.4, "1m10s"), (3725, "1h2m5s")])
def test_elapsed_time_reads_as_terraforms(seconds: float, text: str) -> None:
    from fldecl.cli.progress import elapsed

    assert elapsed(seconds) == text
