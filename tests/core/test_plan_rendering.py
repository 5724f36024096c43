"""Plans a reviewer can read: nested values whole, one field a line, unchanged fields folded with a count."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli
from tests.core.stacks import certificate_authority, documents, party_certificate, stack_document, write_files

STACK = stack_document("readable")

PARTY = """\
apiVersion: fldecl/v1
kind: RemoteTrainingSystem
metadata: {name: Party_1}
spec:
  description: the first party of a consortium whose description is longer than any line of a terminal is wide
  organization: {name: IBM, region: US}
  allowed_identities: [{id: user-1, type: user}, {id: service-7, type: service-id}]
  remote_admin: {id: user-1, type: user}
  party:
    certificate: party-1
    data_handler:
      name: MnistPytorchDataHandler
      path: handler.py
      info: {npz_file: INFO_FILE, batch: 8}
"""
PKI = documents(certificate_authority(subject="{common_name: issuer}", validity_days=None), party_certificate())


def write(stack: Path, info_file: str) -> None:
    write_files(stack, STACK, {"handler.py": "class MnistPytorchDataHandler:\n    pass\n",
                               "party.yaml": documents(PARTY.replace("INFO_FILE", info_file), PKI)})


def section(output: str, address: str) -> list[str]:
    """The lines of one resource's change, from its header to the next blank line."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(f"# {address} "))
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start:end]


def test_a_create_shows_every_nested_field_whole_on_its_own_line(tmp_path: Path) -> None:
    write(tmp_path, "data/party_1_with_a_rather_long_name_that_reviewers_must_read.npz")
    result = run_cli("plan", str(tmp_path))
    assert result.returncode == 0, result.stderr
    party = "\n".join(section(result.stdout, "RemoteTrainingSystem/Party_1"))
    assert "…" not in party and "..." not in party
    assert '+ npz_file = "data/party_1_with_a_rather_long_name_that_reviewers_must_read.npz"' in party
    assert "+ certificate  = (known after apply)" in party
    assert '+ id   = "service-7"' in party and '+ type = "service-id"' in party
    assert "longer than any line of a terminal is wide" in party


def test_a_data_handler_change_shows_the_changed_field_whole_and_folds_the_rest(tmp_path: Path) -> None:
    write(tmp_path, "data/old.npz")
    applied = run_cli("apply", str(tmp_path), "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    new_file = "data/the_new_file_of_party_1_whose_name_is_far_longer_than_eighty_characters_together.npz"
    write(tmp_path, new_file)

    text = run_cli("plan", str(tmp_path))
    assert text.returncode == 0, text.stderr
    party = [line.strip() for line in section(text.stdout, "RemoteTrainingSystem/Party_1")]
    planned = json.loads(run_cli("plan", str(tmp_path), "--json").stdout)
    settings = next(c for c in planned["resource_changes"] if c["address"] == "RemoteTrainingSystem/Party_1")["change"]["after"]["party"]
    assert party[2:] == [
        "# attributes differ from the manifest",
        "~ party = {",
        "~ data_handler = {",
        "~ info = {",
        f'~ npz_file = "data/old.npz" -> "{new_file}"',
        "# (1 unchanged attribute hidden)",
        "}",
        "# (2 unchanged attributes hidden)",
        "}",
        f"# ({len(settings) - 1} unchanged attributes hidden)",  # the party's settings besides its data handler
        "}",
        "# (5 unchanged attributes hidden)",
    ]

    markdown = run_cli("plan", str(tmp_path), "--format", "markdown")
    assert markdown.returncode == 0, markdown.stderr
    assert f'~ npz_file = "data/old.npz" -> "{new_file}"' in markdown.stdout
    assert "# (5 unchanged attributes hidden)" in markdown.stdout and "…" not in markdown.stdout
