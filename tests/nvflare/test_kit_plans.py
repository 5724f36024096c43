"""Kits planned like resources: each site's plan line says when its kit, the server's and the admin's are built,
rebuilt (and why) or removed; apply does exactly that; ``fldecl output`` names every participant's kit.

The first tests need no NVFlare server: a plan of a fresh stack, and kits built and checked as apply and plan
do. The lifecycle through the CLI starts a real server (its parties are ``launch: manual``), so it is slow.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from fldecl.core.errors import ProviderError
from fldecl.providers.nvflare.deployment import PARTY_SETTINGS_PATH, Deployment, party_settings_content
from fldecl.providers.nvflare.kits import AUTHORITY, CERTIFICATE, NOT_BUILT, BuiltKit, rebuild_reason
from fldecl.providers.nvflare.settings import NvflareSettings
from tests.conftest import run_cli
from tests.core.stacks import certificate_authority, documents, stack_document, write_files
from tests.nvflare.conftest import Running, make_authority

pytest.importorskip("nvflare", reason="the nvflare extra is not installed (pip install 'fldecl[nvflare]')")

SITES = ("site-1", "site-2")


def party(index: int) -> str:
    """PartyCertificate/p<index> for site ``site-<index>``, and RemoteTrainingSystem/party-<index>, which its organisation runs."""
    return documents(
        f"apiVersion: fldecl/v1\nkind: PartyCertificate\nmetadata: {{name: p{index}}}\nspec:\n  issuer: issuer\n"
        f"  subject: {{common_name: site-{index}, organization: test}}\n  validity_days: 60\n"
        f"  key_file: pki/p{index}-key.pem\n  cert_file: pki/p{index}-cert.pem\n",
        f"apiVersion: fldecl/v1\nkind: RemoteTrainingSystem\nmetadata: {{name: party-{index}}}\nspec:\n  party:\n"
        f"    certificate: p{index}\n    launch: manual\n    data_handler: {{name: Handler, path: handler.py}}\n")


def write_stack(directory: Path, parties: tuple[int, ...] = (1, 2)) -> Path:
    return write_files(directory, stack_document("kits", backend="nvflare"), {
        "handler.py": "class Handler:\n    pass\n",
        "pki.yaml": documents(certificate_authority(validity_days=100), *(party(index) for index in parties)),
    })


def lines_of(output: str, address: str) -> str:
    """The lines of one resource's change, from its header to the next blank line."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(f"# {address} "))
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return "\n".join(lines[start:end])


def test_a_plan_shows_each_participants_kit_to_build(tmp_path: Path) -> None:
    stack = write_stack(tmp_path / "kits")
    planned = run_cli("plan", str(stack))
    assert planned.returncode == 0, planned.stderr
    for index in (1, 2):
        line = lines_of(planned.stdout, f"RemoteTrainingSystem/party-{index}")
        assert f"+ the kit of site site-{index} in .fldecl/nvflare/kits/site-{index}: built" in line
        assert "+ the server's kit in .fldecl/nvflare/kits/server: built, shared by every site" in line
        assert "+ the admin's kit in .fldecl/nvflare/kits/admin@fldecl.local: built, shared by every site" in line
    document = json.loads(run_cli("plan", str(stack), "--json").stdout)
    parts = {change["address"]: change["parts"] for change in document["resource_changes"]}
    assert {"action": "create", "part": "the kit of site site-1 in .fldecl/nvflare/kits/site-1", "reason": ""} in \
        parts["RemoteTrainingSystem/party-1"]
    assert parts["PartyCertificate/p1"] == []  # a kind without parts


def test_a_kit_is_rebuilt_when_a_source_changes_or_a_file_is_edited_and_only_then(tmp_path: Path) -> None:
    authority = make_authority(tmp_path / "pki")
    issuer = Running(Deployment(tmp_path / ".fldecl", NvflareSettings()), authority, tmp_path / ".fldecl")
    deployment = issuer.deployment
    assert set(deployment.server_kit_changes(authority.cert_file).values()) == {NOT_BUILT}
    assert set(deployment.ensure_server_kits(authority)) == {"server", deployment.settings.admin}
    assert deployment.server_kit_changes(authority.cert_file) == {} and deployment.ensure_server_kits(authority) == {}

    key, cert = issuer.issue("site-1", tmp_path / "pki")
    settings = {"party": "party-1"}
    built = deployment.build_client_kit("site-1", cert, key, authority.cert_file, settings)
    kit = deployment.kit_dir("site-1")
    sources = deployment.client_kit_sources(cert, authority.cert_file)
    expected = {PARTY_SETTINGS_PATH: (party_settings_content(settings), "its party's settings changed")}
    assert rebuild_reason(BuiltKit.from_dict(built.to_dict()), kit, sources, None, expected) is None
    (kit / "workspace-log.txt").write_text("NVFlare writes its logs and jobs beside startup/ and local/")
    assert rebuild_reason(built, kit, sources) is None
    assert rebuild_reason(built, kit, sources, {CERTIFICATE: "its certificate is renewed"}) == "its certificate is renewed"
    changed = {PARTY_SETTINGS_PATH: (party_settings_content({"party": "other"}), "its party's settings changed")}
    assert rebuild_reason(built, kit, sources, None, changed) == "its party's settings changed"

    (kit / "startup" / "start.sh").write_text("#!/bin/sh\necho edited\n")
    (kit / "local" / "resources.json").unlink()
    assert rebuild_reason(built, kit, sources) == "local/resources.json is missing; startup/start.sh was edited"
    _, renewed = issuer.issue("site-1", tmp_path / "renewed")
    assert rebuild_reason(built, kit, {**sources, CERTIFICATE: renewed}) == "its certificate changed"
    shutil.rmtree(kit)
    assert rebuild_reason(built, kit, sources) == "its folder is missing"
    assert rebuild_reason(None, kit, sources) == NOT_BUILT

    csr_key, csr_cert = issuer.issue("site-2", tmp_path / "pki")  # a party that keeps its key: its kit has none
    kept = deployment.build_client_kit("site-2", csr_cert, None, authority.cert_file)
    assert not (deployment.kit_dir("site-2") / "startup" / "client.key").exists()
    shutil.copyfile(csr_key, deployment.kit_dir("site-2") / "startup" / "client.key")  # as its organisation does
    assert rebuild_reason(kept, deployment.kit_dir("site-2"), deployment.client_kit_sources(csr_cert, authority.cert_file)) is None

    server_kit, server_certificate = deployment.kit_dir("server"), deployment.identity_file("server").read_bytes()
    (server_kit / "startup" / "fed_server.json").write_text("{}")
    assert deployment.server_kit_changes() == {"server": "startup/fed_server.json was edited"}  # the admin's kit is left alone
    assert deployment.server_kit_changes(ca_renewed="the CA is renewed") == {"server": "the CA is renewed",
                                                                            deployment.settings.admin: "the CA is renewed"}
    assert deployment.ensure_server_kits(authority) == {"server": "startup/fed_server.json was edited"}
    assert deployment.identity_file("server").read_bytes() == server_certificate  # the same CA: not issued again
    assert json.loads((server_kit / "startup" / "fed_server.json").read_text())["servers"]
    other = make_authority(tmp_path / "other", "another CA")
    assert set(deployment.server_kit_changes(other.cert_file).values()) == {"the CA changed"}
    deployment.ensure_server_kits(other)
    assert deployment.identity_file("server").read_bytes() != server_certificate
    assert BuiltKit.from_dict(json.loads((tmp_path / ".fldecl" / "nvflare" / "deployment.json").read_text())["kits"]["server"]) \
        .sources[AUTHORITY][1] != built.sources[AUTHORITY][1]


def test_a_server_moved_to_other_ports_rebuilds_every_kit_that_names_it(tmp_path: Path) -> None:
    authority = make_authority(tmp_path / "pki")
    issuer = Running(Deployment(tmp_path / ".fldecl", NvflareSettings()), authority, tmp_path / ".fldecl")
    issuer.deployment.ensure_server_kits(authority)
    key, cert = issuer.issue("site-1", tmp_path / "pki")
    built = issuer.deployment.build_client_kit("site-1", cert, key, authority.cert_file)
    chosen = issuer.deployment.server_address()  # ports left to fldecl: chosen once, then kept
    assert Deployment(tmp_path / ".fldecl", NvflareSettings()).server_kit_changes() == {}

    moved = Deployment(tmp_path / ".fldecl", NvflareSettings(fed_learn_port=chosen.fed_learn_port + 1, admin_port=chosen.admin_port))
    why = f"the server's address changed ({chosen.describe()} -> {moved.server_address().describe()})"
    assert moved.server_kit_changes() == {"server": why, moved.settings.admin: why}
    sources = moved.client_kit_sources(cert, authority.cert_file)
    assert rebuild_reason(built, moved.kit_dir("site-1"), sources, address=moved.planned_address()) == why
    assert moved.ensure_server_kits(authority) == {"server": why, moved.settings.admin: why}
    assert json.loads((moved.kit_dir("server") / "startup" / "fed_server.json").read_text())["servers"][0]["service"]["target"] \
        .endswith(f":{chosen.fed_learn_port + 1}")
    rebuilt = moved.build_client_kit("site-1", cert, key, authority.cert_file)
    assert moved.server_kit_changes() == {}
    assert rebuild_reason(rebuilt, moved.kit_dir("site-1"), sources, address=moved.planned_address()) is None
    back = Deployment(tmp_path / ".fldecl", NvflareSettings())  # the port left to fldecl again: the one now in use
    assert back.server_address() == moved.server_address() and back.server_kit_changes() == {}


def test_a_manual_server_that_is_down_is_unreachable_at_once(tmp_path: Path) -> None:
    """Nothing listens at the admin port: sign-in fails on the refused connection, not after NVFlare's retries."""
    authority = make_authority(tmp_path / "pki")
    deployment = Deployment(tmp_path / ".fldecl", NvflareSettings(launch_server=False))
    deployment.ensure_server_kits(authority)
    with pytest.raises(ProviderError, match=f"cannot reach the NVFlare server at 127.0.0.1:{deployment.server_address().admin_port}: "
                                            "Connection refused"):
        with deployment.session():
            pass
    assert deployment.connected_sites() is None


# The lifecycle through the CLI, on a real server --------------------------------------------------------------------


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    stack = write_stack(tmp_path_factory.mktemp("nvflare-kits") / "kits")
    result = run_cli("apply", str(stack), "--auto-approve")
    assert result.returncode == 0, result.stdout + result.stderr
    yield stack
    run_cli("destroy", str(stack), "--auto-approve")
    Deployment(stack / ".fldecl", NvflareSettings()).stop("server")  # whatever a failed test left running


@pytest.mark.slow(seconds=50)
def test_apply_builds_the_kits_and_output_names_each(applied: Path) -> None:
    kits = applied / ".fldecl" / "nvflare" / "kits"
    assert all((kits / participant / "startup").is_dir() for participant in ("server", "admin@fldecl.local", *SITES))
    assert run_cli("plan", str(applied), "--detailed-exitcode").returncode == 0
    text = run_cli("output", str(applied)).stdout
    assert f'RemoteTrainingSystem/party-1.kit = "{kits / "site-1"}"' in text and f'nvflare.server_kit = "{kits / "server"}"' in text
    values = json.loads(run_cli("output", str(applied), "--json").stdout)
    assert {name: value for name, value in values.items() if name.endswith(("kit", ".kit"))} == {
        "RemoteTrainingSystem/party-1.kit": str(kits / "site-1"), "RemoteTrainingSystem/party-2.kit": str(kits / "site-2"),
        "nvflare.server_kit": str(kits / "server"), "nvflare.admin_kit": str(kits / "admin@fldecl.local")}
    assert values["RemoteTrainingSystem/party-1"] and values["PartyCertificate/p1"]  # the ids, as before
    assert run_cli("output", str(applied), "--raw", "RemoteTrainingSystem/party-2.kit").stdout == f"{kits / 'site-2'}\n"


@pytest.mark.slow(seconds=19)
def test_a_renewed_certificate_or_an_edited_file_rebuilds_that_kit_and_nothing_else(applied: Path) -> None:
    kits = applied / ".fldecl" / "nvflare" / "kits"
    (kits / "site-1" / "startup" / "start.sh").write_text("#!/bin/sh\necho edited\n")
    server_kit = {path: path.read_bytes() for path in (kits / "server" / "startup").iterdir()}
    planned = run_cli("plan", str(applied), "--replace", "PartyCertificate/p2", "--detailed-exitcode")
    assert planned.returncode == 2, planned.stdout + planned.stderr
    assert "Plan: 0 to create, 2 to update, 1 to replace, 0 to delete." in planned.stdout
    assert "~ the kit of site site-1 in .fldecl/nvflare/kits/site-1: rebuilt, startup/start.sh was edited" in planned.stdout
    assert ("~ the kit of site site-2 in .fldecl/nvflare/kits/site-2: rebuilt, its certificate is renewed "
            "(PartyCertificate/p2 will be replaced)") in planned.stdout
    assert "server's kit" not in planned.stdout
    applied_again = run_cli("apply", str(applied), "--replace", "PartyCertificate/p2", "--auto-approve")
    assert applied_again.returncode == 0, applied_again.stdout + applied_again.stderr
    assert "Apply complete! 1 created, 2 updated, 1 deleted." in applied_again.stdout
    assert (kits / "site-2" / "startup" / "client.crt").read_bytes() == (applied / "pki" / "p2-cert.pem").read_bytes()
    assert "edited" not in (kits / "site-1" / "startup" / "start.sh").read_text()
    assert {path: path.read_bytes() for path in (kits / "server" / "startup").iterdir()} == server_kit
    assert run_cli("plan", str(applied), "--detailed-exitcode").returncode == 0


@pytest.mark.slow(seconds=16)
def test_a_removed_partys_kit_goes(applied: Path) -> None:
    write_stack(applied, parties=(1,))
    planned = run_cli("plan", str(applied))
    assert "- the kit of site site-2 in .fldecl/nvflare/kits/site-2: removed" in lines_of(planned.stdout, "RemoteTrainingSystem/party-2")
    removed = run_cli("apply", str(applied), "--auto-approve")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    kits = applied / ".fldecl" / "nvflare" / "kits"
    assert not (kits / "site-2").exists() and (kits / "site-1" / "startup").is_dir()
    assert run_cli("plan", str(applied), "--detailed-exitcode").returncode == 0
