"""Manifests parsed once: a plan of unchanged files neither parses them nor imports PyYAML, and
anything a file's values depend on (its bytes, the variables it refers to, their sensitivity)
makes it parsed again, with every diagnostic a real parse gives."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import run_cli
from tests.core.stacks import write_stack

PLAN_IN_PROCESS = """
import sys
from pathlib import Path
from fldecl.cli.session import load, reconciler
print(reconciler(load(Path(sys.argv[1]))).plan().summary)
print("yaml" in sys.modules)
"""


def plan_in_process(stack: Path, env: dict[str, str] | None = None) -> tuple[str, bool]:
    """The plan's summary, and whether PyYAML was imported to make it."""
    result = subprocess.run([sys.executable, "-c", PLAN_IN_PROCESS, str(stack)], capture_output=True, text=True,
                            env={**_inherited(), **(env or {})}, timeout=60)
    assert result.returncode == 0, result.stderr
    summary, imported = result.stdout.splitlines()
    return summary, imported == "True"


def _inherited() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name != "PARTY_NOTE"}


def noted_stack(directory: Path) -> Path:
    """Two parties; Party_1's description refers to ``PARTY_NOTE``."""
    stack = write_stack(directory, pki=False, model=False, parties=2)
    rts = stack / "rts.yaml"
    rts.write_text(rts.read_text().replace("description: a party", "description: ${PARTY_NOTE:-a party}", 1))
    return stack


def test_an_unchanged_stack_plans_without_parsing_its_manifests(tmp_path: Path) -> None:
    stack = noted_stack(tmp_path / "stack")
    assert run_cli("apply", str(stack), "--auto-approve").returncode == 0
    assert plan_in_process(stack) == ("0 to create, 0 to update, 0 to replace, 0 to delete", True)  # made the state directory
    assert plan_in_process(stack) == ("0 to create, 0 to update, 0 to replace, 0 to delete", False)
    rts = stack / "rts.yaml"
    rts.write_text(rts.read_text().replace("region: US", "region: EU", 1))
    assert plan_in_process(stack) == ("0 to create, 1 to update, 0 to replace, 0 to delete", True)
    assert plan_in_process(stack) == ("0 to create, 1 to update, 0 to replace, 0 to delete", False)


def test_a_changed_variable_is_read_again(tmp_path: Path) -> None:
    stack = noted_stack(tmp_path / "stack")
    assert run_cli("apply", str(stack), "--auto-approve", env={"PARTY_NOTE": "first"}).returncode == 0
    assert plan_in_process(stack, {"PARTY_NOTE": "first"})[0].startswith("0 to create, 0 to update")
    changed = run_cli("plan", str(stack), env={"PARTY_NOTE": "second"})
    assert '~ description = "first" -> "second"' in changed.stdout, changed.stdout
    unset = run_cli("plan", str(stack))
    assert '~ description = "first" -> "a party"' in unset.stdout, unset.stdout
    assert plan_in_process(stack, {"PARTY_NOTE": "first"}) == ("0 to create, 0 to update, 0 to replace, 0 to delete", True)


def test_a_variable_made_sensitive_is_kept_as_written_from_then_on(tmp_path: Path) -> None:
    stack = noted_stack(tmp_path / "stack")
    assert run_cli("apply", str(stack), "--auto-approve", env={"PARTY_NOTE": "a secret"}).returncode == 0
    assert run_cli("plan", str(stack), "--detailed-exitcode", env={"PARTY_NOTE": "a secret"}).returncode == 0
    (stack / "stack.yaml").write_text((stack / "stack.yaml").read_text() + "  sensitive_variables: [PARTY_NOTE]\n")
    result = run_cli("plan", str(stack), env={"PARTY_NOTE": "a secret"})
    assert "-> (sensitive value)" in result.stdout, result.stdout  # the reference, no longer its value
    assert "a secret" not in result.stdout


def test_a_broken_manifest_is_reported_on_every_run_until_fixed(tmp_path: Path) -> None:
    stack = noted_stack(tmp_path / "stack")
    assert run_cli("apply", str(stack), "--auto-approve").returncode == 0
    rts = stack / "rts.yaml"
    good = rts.read_text()
    rts.write_text(good.replace("  organization:", "  description: twice\n  organization:", 1))
    for _ in range(2):
        result = run_cli("plan", str(stack))
        assert result.returncode == 1
        assert "rts.yaml:6:3: error: duplicate key 'description' (first at line 5)" in result.stdout + result.stderr
    rts.write_text(good)
    assert run_cli("plan", str(stack), "--detailed-exitcode").returncode == 0
