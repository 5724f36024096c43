"""Errors that point at one cause: no follow-on errors, "did you mean" for values and references, one
error per unset variable naming where it is used, and files shown alike by every command."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE, run_cli


@pytest.fixture
def example(tmp_path: Path) -> Path:
    stack = tmp_path / "consortium"
    shutil.copytree(EXAMPLE, stack, ignore=shutil.ignore_patterns(".fldecl", "pki", "data"))
    return stack


def edit(file: Path, old: str, new: str) -> None:
    text = file.read_text()
    assert old in text
    file.write_text(text.replace(old, new))


def diagnostics(stack: Path, env: dict[str, str] | None = None) -> list[dict]:
    result = run_cli("validate", "--json", cwd=stack, env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stdout + result.stderr
    return json.loads(result.stdout)["diagnostics"]


def test_a_document_that_fails_to_parse_adds_no_follow_on_errors(example: Path) -> None:
    edit(example / "rts.yaml", "info: {npz_file: data/data_party_1.npz}", "info: {npz_file: data/data_party_1.npz")
    [only] = diagnostics(example)
    assert only["summary"].startswith("YAML syntax error") and only["range"]["filename"] == "rts.yaml"


def test_a_misspelled_value_is_one_error_that_suggests_the_closest(example: Path) -> None:
    edit(example / "training.yaml", "fusion_type: crypto_iter_avg", "fusion_type: crypto_iter_average")
    [only] = diagnostics(example)
    assert only["field"] == "spec.fusion_type" and only["range"]["start"]["line"] == 9
    assert "did you mean 'crypto_iter_avg'?" in only["detail"]


def test_a_misspelled_reference_suggests_the_closest_name(example: Path) -> None:
    edit(example / "training.yaml", "model: pytorch", "model: pytorc")
    [only] = diagnostics(example)
    assert only["summary"] == "reference to Model/pytorc, which is not declared"
    assert only["detail"].startswith("did you mean 'pytorch'?")


def test_each_unset_variable_is_one_error_naming_every_use(example: Path) -> None:
    rts = example / "rts.yaml"
    rts.write_text(rts.read_text().replace("WML_USER_ID:-local-user", "FLDECL_TEST_USER")
                   .replace("organization: {name: IBM, region: US}", 'organization: {name: "${FLDECL_TEST_ORG}", region: US}'))
    env = {name: value for name, value in os.environ.items() if not name.startswith("FLDECL_TEST_")}
    found = diagnostics(example, env)
    assert [d["summary"].split(" (")[0] for d in found] == ["environment variable FLDECL_TEST_ORG is not set",
                                                            "environment variable FLDECL_TEST_USER is not set"]
    user = found[1]
    assert (user["range"]["filename"], user["range"]["start"]["line"], user["field"]) == ("rts.yaml", 9, "spec.allowed_identities[0].id")
    assert user["detail"].count("rts.yaml:") == 5 and "rts.yaml:44:22 [spec.remote_admin.id]" in user["detail"]


def test_every_command_shows_files_relative_to_the_current_directory(example: Path) -> None:
    edit(example / "training.yaml", "rounds: 2", "rounds: 0")
    outputs = [run_cli(command, example.name, cwd=example.parent) for command in ("validate", "plan", "apply")]
    lines = [next(line for line in result.stderr.splitlines() if "error:" in line) for result in outputs]
    assert lines[0].startswith("consortium/training.yaml:12:3: error:") and lines == [lines[0]] * 3
