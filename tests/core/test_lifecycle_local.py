"""validate / plan / apply / plan / change / plan / destroy on the local backend, through the CLI."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.core.stacks import MODEL, write_stack


def plan_json(stack: Path) -> dict:
    result = run_cli("plan", str(stack), "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def actions(document: dict) -> dict[str, list[str]]:
    return {c["address"]: c["change"]["actions"] for c in document["resource_changes"]}


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Path:
    stack = write_stack(tmp_path_factory.mktemp("lifecycle") / "stack", parties=2)
    assert run_cli("validate", str(stack)).returncode == 0
    first = run_cli("plan", str(stack), "--detailed-exitcode")
    assert first.returncode == 2, first.stderr
    assert first.stdout.startswith("Plan: 5 to create, 0 to update, 0 to replace, 0 to delete.")
    result = run_cli("apply", str(stack), "--auto-approve")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Apply complete! 5 created, 0 updated, 0 deleted." in result.stdout
    return stack


def test_second_plan_has_no_changes(applied: Path) -> None:
    result = run_cli("plan", str(applied), "--detailed-exitcode")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 to create, 0 to update, 0 to replace, 0 to delete" in result.stdout
    assert "No changes" in result.stdout


def test_keys_follow_the_seed_rules(applied: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    ca = x509.load_pem_x509_certificate((applied / "pki/ca-cert.pem").read_bytes())
    cert = x509.load_pem_x509_certificate((applied / "pki/party-1-cert.pem").read_bytes())
    for key_file in ("pki/ca-key.pem", "pki/party-1-key.pem"):
        path = applied / key_file
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert b"ENCRYPTED" not in path.read_bytes()
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert key.key_size == 4096
        assert key.public_key().public_numbers().e == 65537
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
    assert cert.issuer == ca.subject


def test_change_in_place_shows_only_the_changed_field(applied: Path) -> None:
    rts = applied / "rts.yaml"
    original = rts.read_text()
    rts.write_text(original.replace("description: a party", "description: a renamed party", 1))
    try:
        assert run_cli("plan", str(applied), "--detailed-exitcode").returncode == 2
        document = plan_json(applied)
        assert document["summary"] == "0 to create, 1 to update, 0 to replace, 0 to delete"
        change = next(c for c in document["resource_changes"] if c["address"] == "RemoteTrainingSystem/Party_1")
        assert change["change"]["actions"] == ["update"]
        assert change["change"]["changed_fields"] == [
            {"path": ["description"], "field": "description", "before": "a party", "after": "a renamed party", "forces_replacement": False}]
    finally:
        rts.write_text(original)


def test_model_change_forces_replacement_with_reason(applied: Path) -> None:
    model = applied / "model.yaml"
    model.write_text(MODEL.replace("n_features: 64", "n_features: 32"))
    try:
        document = plan_json(applied)
        change = next(c for c in document["resource_changes"] if c["address"] == "Model/sgd")
        assert change["change"]["actions"] == ["delete", "create"]
        assert ["content_hash"] in change["change"]["replace_paths"]
        markdown = run_cli("plan", str(applied), "--format", "markdown").stdout
        assert markdown.startswith("**Plan: 0 to create, 0 to update, 1 to replace, 0 to delete**")
        assert "[!CAUTION]" in markdown and "`Model/sgd` (replace" in markdown
    finally:
        model.write_text(MODEL)


def test_ca_replacement_cascades_to_party_certificates(applied: Path) -> None:
    result = run_cli("plan", str(applied), "--json", "--replace", "CertificateAuthority/issuer")
    document = json.loads(result.stdout)
    change = next(c for c in document["resource_changes"] if c["address"] == "PartyCertificate/party-1")
    assert change["change"]["actions"] == ["delete", "create"]
    assert "CertificateAuthority/issuer will be replaced" in change["reasons"]


def test_removed_resource_is_pruned(applied: Path, tmp_path: Path) -> None:
    rts = applied / "rts.yaml"
    original = rts.read_text()
    rts.write_text(original.split("---\n")[0])
    try:
        assert actions(plan_json(applied))["RemoteTrainingSystem/Party_2"] == ["delete"]
    finally:
        rts.write_text(original)


def test_foreign_resource_with_same_name_survives_everything(tmp_path: Path) -> None:
    stack = write_stack(tmp_path / "stack", pki=False, model=False, parties=1)
    assert run_cli("apply", str(stack), "--auto-approve").returncode == 0
    db = stack / ".fldecl" / "local.db"
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO resources VALUES ('foreign-1', 'RemoteTrainingSystem', 'Party_1', ?, '{}', NULL, '{}', "
                     "'2020-01-01T00:00:00Z', '2020-01-01T00:00:00Z')", (json.dumps(["wml_fl_fhe_nb_example"]),))
    assert run_cli("plan", str(stack), "--detailed-exitcode").returncode == 0
    assert run_cli("apply", str(stack), "--auto-approve").returncode == 0
    destroyed = run_cli("destroy", str(stack), "--auto-approve")
    assert destroyed.returncode == 0 and "1 deleted" in destroyed.stdout
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id FROM resources").fetchall()
    assert rows == [("foreign-1",)]


def test_destroy_keeps_key_files_and_empties_the_stack(tmp_path: Path) -> None:
    stack = write_stack(tmp_path / "stack", model=False, parties=1)
    assert run_cli("apply", str(stack), "--auto-approve").returncode == 0
    result = run_cli("destroy", str(stack), "--auto-approve")
    assert result.returncode == 0, result.stderr
    assert "3 deleted" in result.stdout
    assert (stack / "pki/ca-key.pem").exists()
    shown = json.loads(run_cli("show", str(stack), "--json").stdout)
    assert shown["resources"] == []


def test_apply_without_terminal_or_approval_refuses(tmp_path: Path) -> None:
    stack = write_stack(tmp_path / "stack", pki=False, model=False)
    result = run_cli("apply", str(stack))
    assert result.returncode == 1
    assert "refusing to apply without approval" in result.stderr
    assert json.loads(run_cli("show", str(stack), "--json").stdout)["resources"] == []


def test_interactive_answer_other_than_yes_cancels(tmp_path: Path) -> None:
    import os
    import pty
    import subprocess
    import sys

    stack = write_stack(tmp_path / "stack", pki=False, model=False)
    primary, secondary = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "fldecl", "apply", str(stack)], stdin=secondary,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "NO_COLOR": "1"})
    os.write(primary, b"no\n")
    _out, err = process.communicate(timeout=60)
    os.close(primary)
    os.close(secondary)
    assert process.returncode == 1
    assert b"apply cancelled" in err



@pytest.mark.parametrize("operation", ["apply", "destroy"])
def test_ctrl_c_at_the_approval_prompt_cancels_with_an_interrupts_exit_code(tmp_path: Path, operation: str) -> None:
    """Ctrl-C while the prompt waits: the operation is cancelled, nothing changed, exit 130 as for any interrupt."""
    import os
    import pty
    import signal
    import subprocess
    import sys
    import time

    stack = write_stack(tmp_path / "stack", pki=False, model=False)
    if operation == "destroy":
        assert run_cli("apply", str(stack), "--auto-approve").returncode == 0
    before = json.loads(run_cli("show", str(stack), "--json").stdout)["resources"]
    primary, secondary = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "fldecl", operation, str(stack)], stdin=secondary,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "NO_COLOR": "1"})
    assert process.stdout is not None
    shown = b""
    while f"Do you want to {operation}?".encode() not in shown:
        chunk = os.read(process.stdout.fileno(), 65536)
        assert chunk, shown
        shown += chunk
    # Ctrl-C once the prompt waits for a line (a signal just before the read begins is seen only at the next key).
    while Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "S":
        time.sleep(0.05)
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=60)
    os.close(primary)
    os.close(secondary)
    assert process.returncode == 130, err
    assert f"{operation.capitalize()} cancelled: nothing was changed.".encode() in err
    assert b"Aborted!" not in err and b"Traceback" not in err
    assert json.loads(run_cli("show", str(stack), "--json").stdout)["resources"] == before


def test_saved_plan_applies_and_refuses_when_stale(tmp_path: Path) -> None:
    stack = write_stack(tmp_path / "stack", pki=False, model=False, parties=2)
    saved = tmp_path / "plan.json"
    assert run_cli("plan", str(stack), "--out", str(saved)).returncode == 0
    (stack / "rts.yaml").write_text((stack / "rts.yaml").read_text().replace("a party", "changed"))
    stale = run_cli("apply", str(saved))
    assert stale.returncode == 1 and "stale" in stale.stderr
    assert run_cli("plan", str(stack), "--out", str(saved)).returncode == 0
    applied = run_cli("apply", str(saved))
    assert applied.returncode == 0, applied.stderr
    assert run_cli("plan", str(stack), "--detailed-exitcode").returncode == 0


def test_a_stale_saved_plan_names_what_changed_and_an_edited_one_says_so(tmp_path: Path) -> None:
    stack = write_stack(tmp_path / "stack", pki=False, model=False, parties=2)
    saved = tmp_path / "plan.json"
    assert run_cli("plan", str(stack), "--out", str(saved), "--target", "RemoteTrainingSystem/Party_1").returncode == 0
    document = json.loads(saved.read_text())
    document["targets"] = ["RemoteTrainingSystem/Party_2"]
    saved.write_text(json.dumps(document))
    edited = run_cli("apply", str(saved))
    assert edited.returncode == 1 and "was edited after `fldecl plan --out` wrote it" in edited.stderr
    assert run_cli("plan", str(stack), "--out", str(saved), "--target", "RemoteTrainingSystem/Party_1").returncode == 0
    (stack / "rts.yaml").write_text((stack / "rts.yaml").read_text().replace("a party", "changed", 1))
    stale = run_cli("apply", str(saved))
    assert stale.returncode == 1
    assert "the manifests of RemoteTrainingSystem/Party_1 changed since it was made" in stale.stderr


def test_prevent_destroy_fails_the_plan(tmp_path: Path) -> None:
    stack = write_stack(tmp_path / "stack", pki=False, model=False)
    (stack / "rts.yaml").write_text((stack / "rts.yaml").read_text() + "lifecycle: {prevent_destroy: true}\n")
    assert run_cli("apply", str(stack), "--auto-approve").returncode == 0
    result = run_cli("destroy", str(stack), "--auto-approve")
    assert result.returncode == 1
    assert "prevent_destroy" in result.stderr and "RemoteTrainingSystem/Party_1" in result.stderr


def test_target_limits_the_plan_to_the_resource_and_its_dependencies(tmp_path: Path) -> None:
    stack = write_stack(tmp_path / "stack", parties=2)
    document = json.loads(run_cli("plan", str(stack), "--json", "--target", "PartyCertificate/party-1").stdout)
    assert sorted(actions(document)) == ["CertificateAuthority/issuer", "PartyCertificate/party-1"]


def test_lock_stops_a_second_apply(tmp_path: Path) -> None:
    from fldecl.providers.local.lock import stack_lock

    stack = write_stack(tmp_path / "stack", pki=False, model=False)
    with stack_lock(stack / ".fldecl", "apply"):
        result = run_cli("apply", str(stack), "--auto-approve", "--lock-timeout", "0.5")
    assert result.returncode == 1
    assert "locked by apply" in result.stderr


def test_graph_prints_dot(tmp_path: Path) -> None:
    stack = write_stack(tmp_path / "stack")
    result = run_cli("graph", str(stack))
    assert result.returncode == 0
    assert '"PartyCertificate/party-1" -> "CertificateAuthority/issuer";' in result.stdout


def test_import_adopts_an_untagged_resource(tmp_path: Path) -> None:
    stack = write_stack(tmp_path / "stack", pki=False, model=False)
    (stack / ".fldecl").mkdir()
    from fldecl.providers.store import ResourceStore

    store = ResourceStore(stack / ".fldecl" / "local.db")
    made = store.insert("RemoteTrainingSystem", "Party_1", ["wml_fl_fhe_nb_example"], {"description": "made by the notebook"})
    store.close()
    result = run_cli("import", "RemoteTrainingSystem/Party_1", made.id, str(stack))
    assert result.returncode == 0, result.stderr
    document = plan_json(stack)
    change = next(c for c in document["resource_changes"] if c["address"] == "RemoteTrainingSystem/Party_1")
    assert change["id"] == made.id and change["change"]["actions"] == ["update"]
