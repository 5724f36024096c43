"""Parts and outputs, generic: a resource type that holds parts its attributes do not show (a kit) says on the
plan line what a change does to them; a resource or a backend offers values besides ids to ``fldecl output``."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from fldecl.core.contract import PartChange, PartsRequest, ProviderContext
from fldecl.core.reconciler import Reconciler
from fldecl.core.saved_plan import plan_document
from fldecl.kinds import load_stack
from fldecl.providers.memory import MemoryBackend, MemoryResources
from fldecl.render.plan_markdown import plan_markdown
from fldecl.render.plan_text import print_plan
from tests.core.stacks import write_stack
from tests.core.test_apply_engine import KINDS, Silent


class Folders(MemoryResources):
    """Certificates that each hold a folder: made with the certificate, made again when its CA is, removed with it."""

    def __init__(self, backend: MemoryBackend, kind: str) -> None:
        super().__init__(backend, kind)
        self.asked: list[PartsRequest] = []

    def part_changes(self, request: PartsRequest, ctx: ProviderContext) -> list[PartChange]:
        self.asked.append(request)
        folder = f"the folder of {request.desired.name if request.desired else request.current and request.current.name}"
        renewed = [address for address, planned in request.dependencies.items() if planned.action == "replace"]
        if request.change.action == "delete":
            return [PartChange("delete", folder)]
        if renewed:
            return [PartChange("update", folder, f"{renewed[0]} is replaced")]
        return [PartChange("create", folder)]


class WithKits(MemoryBackend):
    def outputs(self, ctx: ProviderContext) -> dict[str, str]:
        return {"shared_folder": "/srv/shared"}


def setup(tmp_path: Path) -> tuple[Reconciler, WithKits, Folders]:
    stack = load_stack(write_stack(tmp_path / "stack", model=False, parties=1))
    backend = WithKits(KINDS)
    folders = Folders(backend, "PartyCertificate")
    backend.resources["PartyCertificate"] = folders
    ctx = ProviderContext(stack.name, stack.directory, stack.state_dir, stack.owner_tag, Silent())
    return Reconciler(stack, backend.providers(), ctx), backend, folders


def rendered(plan_text: str) -> list[str]:
    return [line.strip() for line in plan_text.splitlines()]


def test_a_plan_line_says_what_a_change_does_to_the_resources_parts_and_a_no_op_asks_nothing(tmp_path: Path) -> None:
    rec, _backend, folders = setup(tmp_path)
    plan = rec.plan()
    change = next(c for c in plan.changes if c.address == "PartyCertificate/party-1")
    assert change.parts == [PartChange("create", "the folder of party-1")]
    assert [c.parts for c in plan.changes if c.address != change.address] == [[], []]
    assert folders.asked[0].dependencies["CertificateAuthority/issuer"].action == "create"
    out = io.StringIO()
    print_plan(plan, Console(file=out, width=200, no_color=True))
    assert "+ the folder of party-1: built" in rendered(out.getvalue())
    assert "+ the folder of party-1: built" in plan_markdown(plan)
    parts = {c["address"]: c["parts"] for c in plan_document(plan)["resource_changes"]}
    assert parts["PartyCertificate/party-1"] == [{"action": "create", "part": "the folder of party-1", "reason": ""}]

    rec.apply(plan, Silent())
    folders.asked.clear()
    assert not rec.plan().has_changes and folders.asked == []

    renewed = next(c for c in rec.plan(replace=["CertificateAuthority/issuer"]).changes if c.address == "PartyCertificate/party-1")
    assert renewed.parts == [PartChange("update", "the folder of party-1", "CertificateAuthority/issuer is replaced")]
    destroyed = next(c for c in rec.plan(destroy=True).changes if c.address == "PartyCertificate/party-1")
    assert destroyed.parts == [PartChange("delete", "the folder of party-1")]
    assert folders.asked[-1].desired is None
    out = io.StringIO()
    print_plan(rec.plan(destroy=True), Console(file=out, width=200, no_color=True))
    assert "- the folder of party-1: removed" in rendered(out.getvalue())


def test_output_names_the_values_resources_and_the_backend_offer_besides_ids(tmp_path: Path) -> None:
    rec, backend, _folders = setup(tmp_path)
    rec.apply(rec.plan(), Silent())
    party = next(o for o in backend.held.values() if o.name == "Party_1")
    party.outputs = {"folder": "/srv/party-1"}
    values = rec.outputs()
    assert values["RemoteTrainingSystem/Party_1"] == party.id
    assert values["RemoteTrainingSystem/Party_1.folder"] == "/srv/party-1"
    assert values[f"{rec.stack.backend}.shared_folder"] == "/srv/shared"
    assert list(values).index("RemoteTrainingSystem/Party_1.folder") == list(values).index("RemoteTrainingSystem/Party_1") + 1
