"""One contract, every provider: the same checks run over the memory, local, workspace, wml and nvflare providers
(wml against the emulator, nvflare against a real NVFlare server, each started here on 127.0.0.1).

Each provider is held to :mod:`fldecl.core.contract`: a create/read/update/delete round trip, the
ownership tag set by create itself, nothing without the tag asked for ever returned by read, a
delete of what is gone already not an error, and each optional capability it opts into
(name checks, adoption, search, discovery, forgetting) behaving as its protocol says.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from fldecl.core.contract import (
    Adoptable,
    AdoptRequest,
    Composite,
    CreateRequest,
    DeleteRequest,
    Desired,
    Discoverable,
    DiscoverRequest,
    ForgetRequest,
    Forgettable,
    NameCheckable,
    Observed,
    ProviderContext,
    ReadRequest,
    ResourceType,
    SameNameRequest,
    Searchable,
    Selection,
    UpdateRequest,
)
from fldecl.core.plan import build_desired, diff_attributes
from fldecl.core.stack import Stack
from fldecl.emulator import EmulatorServer
from fldecl.kinds import load_stack
from tests.core.stacks import certificate_authority, write_stack

OTHER_STACK_TAG = "fldecl.stack.someone-else"
SECOND_CA = certificate_authority("other", "{common_name: another issuer}", files="other")


class Silent:
    def progress(self, address: str, message: str) -> None: ...


@dataclass
class Subject:
    """One provider's resource type for one kind, two declared resources of that kind, and an in-place change.

    ``related`` holds what the declared resources refer to (a party's certificate and its CA), as the backend holds it.
    """

    resource_type: ResourceType
    stack: Stack
    owned: str
    foreign: str
    change: tuple[str, object]
    capabilities: frozenset[type]
    related: Mapping[str, Observed]

    @property
    def ctx(self) -> ProviderContext:
        return context(self.stack)

    def desired(self, address: str) -> Desired:
        return build_desired(self.stack, address, self.related)

    def read(self, tag: str | None = None) -> dict[str, Observed]:
        return {obs.id: obs for obs in self.resource_type.read(ReadRequest(tag or self.stack.owner_tag), self.ctx)}

    def create(self, desired: Desired) -> Observed:
        return self.resource_type.create(CreateRequest(desired), self.ctx)

    def create_foreign(self) -> Observed:
        """The second declared resource, made by another stack: it carries that stack's tag, not this one's."""
        return self.create(dataclasses.replace(self.desired(self.foreign), tags=[OTHER_STACK_TAG]))


def context(stack: Stack) -> ProviderContext:
    return ProviderContext(stack.name, stack.directory, stack.state_dir, stack.owner_tag, Silent())


@dataclass(frozen=True)
class Made:
    """A provider's resource type, made for ``stack`` (whose resources it refers to are ``related``)."""

    resource_type: ResourceType
    stack: Stack
    related: Mapping[str, Observed] = dataclasses.field(default_factory=dict)


def written_stack(tmp_path: Path) -> Stack:
    """A stack of two parties, a CA and a second CA, for this test alone (nothing made yet)."""
    directory = write_stack(tmp_path / "stack", "conformance", model=False, parties=2)
    (directory / "other-ca.yaml").write_text(SECOND_CA)
    stack = load_stack(directory)
    stack.state_dir.mkdir(exist_ok=True)
    return stack


def _memory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Made]:
    from fldecl.providers.memory import MemoryBackend

    yield Made(MemoryBackend(["RemoteTrainingSystem"]).resources["RemoteTrainingSystem"], written_stack(tmp_path))


def _local(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Made]:
    from fldecl.providers.local import LocalProvider

    stack = written_stack(tmp_path)
    provider = LocalProvider(stack.state_dir)
    yield Made(provider.resources["RemoteTrainingSystem"], stack)
    provider.store.close()


def _workspace(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Made]:
    from fldecl.providers.workspace import WorkspaceProvider

    stack = written_stack(tmp_path)
    provider = WorkspaceProvider(stack.state_dir)
    yield Made(provider.resources["CertificateAuthority"], stack)
    provider.store.close()


def _wml(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Made]:
    from fldecl.providers.wml import WmlProvider
    from fldecl.providers.wml.connection import Credentials, WmlSession

    with EmulatorServer(data_dir=tmp_path / "emulator", port=0) as emulator:
        yield Made(WmlProvider(WmlSession(Credentials.from_environment(emulator.env()))).resources["RemoteTrainingSystem"],
                   written_stack(tmp_path))


def _nvflare(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Made]:
    """The stack's sites on the module's NVFlare server, recorded in a store of this test's own."""
    from fldecl.providers.nvflare.sites import Sites
    from fldecl.providers.store import ResourceStore

    deployed: Made = request.getfixturevalue("nvflare_sites")
    assert isinstance(deployed.resource_type, Sites)
    store = ResourceStore(tmp_path / "nvflare.db")
    yield Made(Sites(deployed.resource_type.deployment, store, deployed.resource_type.model_content), deployed.stack, deployed.related)
    store.close()


@pytest.fixture(scope="module")
def nvflare_sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Made]:
    """A stack on nvflare whose parties' sites join by hand (``launch: manual``: their kits are built, nothing started), and
    its server, run by its operators (``launch: manual``) from the kit of the stack's CA: one server for the module."""
    pytest.importorskip("nvflare", reason="the nvflare extra is not installed (pip install 'fldecl[nvflare]')")
    from fldecl.providers import providers_for
    from fldecl.providers.nvflare.deployment import Authority
    from fldecl.providers.nvflare.sites import Sites

    directory = write_stack(tmp_path_factory.mktemp("nvflare") / "stack", "conformance", model=False, parties=2,
                            backend="nvflare", settings="{server: {launch: manual}}", launch="manual")
    stack = load_stack(directory)
    resources, ctx = providers_for(stack.backend, stack.state_dir, stack.backend_settings).resources, context(stack)
    ca = resources["CertificateAuthority"].create(CreateRequest(build_desired(stack, "CertificateAuthority/issuer", {})), ctx)
    sites = resources["RemoteTrainingSystem"]
    assert isinstance(sites, Sites)
    deployment = sites.deployment
    deployment.ensure_server_kits(Authority(directory / ca.attributes["key_file"], directory / ca.attributes["cert_file"]))
    try:
        deployment.start(deployment.settings.server_name)
        related = {ca.address: ca}
        for certificate in ("PartyCertificate/party-1", "PartyCertificate/party-2"):  # issued while the server starts
            made = resources["PartyCertificate"].create(CreateRequest(build_desired(stack, certificate, related)), ctx)
            related[made.address] = made
        deployment.wait_for_server()
        yield Made(sites, stack, related)
    finally:
        deployment.stop(deployment.settings.server_name)


@dataclass(frozen=True)
class Row:
    """How one provider is held to the contract: its resource type for a test (``make``), the two declared resources it
    makes, an in-place change, and the capabilities it opts into."""

    make: Callable[[pytest.FixtureRequest, Path], Iterator[Made]]
    owned: str
    foreign: str
    change: tuple[str, object]
    capabilities: frozenset[type]


PARTIES = ("RemoteTrainingSystem/Party_1", "RemoteTrainingSystem/Party_2")
PROVIDERS = {
    "memory": Row(_memory, *PARTIES, ("description", "changed"), frozenset({NameCheckable, Adoptable, Searchable})),
    "local": Row(_local, *PARTIES, ("description", "changed"), frozenset({NameCheckable, Adoptable, Forgettable})),
    "workspace": Row(_workspace, "CertificateAuthority/issuer", "CertificateAuthority/other", ("renew_before_days", 10),
                     frozenset({Discoverable, Adoptable, Forgettable})),
    "wml": Row(_wml, *PARTIES, ("description", "changed"), frozenset({NameCheckable, Adoptable, Searchable, Forgettable})),
    "nvflare": Row(_nvflare, *PARTIES, ("description", "changed"), frozenset({NameCheckable, Adoptable, Composite})),
}
CAPABILITIES = (Discoverable, NameCheckable, Adoptable, Searchable, Forgettable, Composite)


@pytest.fixture(params=sorted(PROVIDERS))
def subject(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Subject]:
    for name in ("WML_CLIENT_VERIFY_REQUESTS", "REQUESTS_CA_BUNDLE", "WML_PASSWORD", "WML_SPACE_ID"):
        monkeypatch.delenv(name, raising=False)
    row = PROVIDERS[request.param]
    for made in row.make(request, tmp_path):
        yield Subject(made.resource_type, made.stack, row.owned, row.foreign, row.change, row.capabilities, made.related)


def test_create_read_update_delete(subject: Subject) -> None:
    assert subject.read() == {}
    desired = subject.desired(subject.owned)
    made = subject.create(desired)
    assert set(desired.tags) <= set(made.tags), "create sets every tag of the stack in the create call itself"
    assert (made.kind, made.name) == (desired.kind, desired.name)
    read = subject.read()
    assert list(read) == [made.id]
    assert diff_attributes(desired.kind, read[made.id].attributes, desired.attributes) == []

    field, value = subject.change
    changed = subject.desired(subject.owned)
    changed.attributes[field] = value
    updated = subject.resource_type.update(UpdateRequest(read[made.id], changed, (field,)), subject.ctx)
    assert updated.id == made.id
    assert subject.read()[made.id].attributes[field] == value

    subject.resource_type.delete(DeleteRequest(updated), subject.ctx)
    assert subject.read() == {}
    subject.resource_type.delete(DeleteRequest(updated), subject.ctx)  # gone already: not an error


def test_read_returns_only_what_carries_the_tag_asked_for(subject: Subject) -> None:
    owned = subject.create(subject.desired(subject.owned))
    foreign = subject.create_foreign()
    assert list(subject.read()) == [owned.id]
    assert list(subject.read(OTHER_STACK_TAG)) == [foreign.id]
    assert subject.stack.owner_tag not in foreign.tags


def test_the_provider_opts_into_exactly_its_capabilities(subject: Subject) -> None:
    assert {capability for capability in CAPABILITIES if isinstance(subject.resource_type, capability)} == subject.capabilities


def test_name_checks_report_only_what_the_stack_does_not_own(subject: Subject) -> None:
    if NameCheckable not in subject.capabilities:
        pytest.skip("this provider's resources are the stack's by their declared paths: it checks no names")
    assert isinstance(subject.resource_type, NameCheckable)
    owned = subject.create(subject.desired(subject.owned))
    foreign = subject.create_foreign()
    names = (subject.desired(subject.owned).backend_name, subject.desired(subject.foreign).backend_name)
    found = subject.resource_type.same_name(SameNameRequest(names), subject.ctx)
    assert [(unowned.id, unowned.name) for unowned in found] == [(foreign.id, names[1])]
    assert OTHER_STACK_TAG in found[0].tags and owned.id not in {unowned.id for unowned in found}


def test_adoption_adds_the_stacks_tags(subject: Subject) -> None:
    assert isinstance(subject.resource_type, Adoptable)
    foreign = subject.create_foreign()
    adopted = subject.resource_type.adopt(AdoptRequest(foreign.id, subject.desired(subject.foreign)), subject.ctx)
    assert adopted.id == foreign.id and subject.stack.owner_tag in adopted.tags
    assert list(subject.read()) == [foreign.id]
    assert subject.read()[foreign.id].name == subject.desired(subject.foreign).name


def test_search_finds_by_tag_and_by_id_and_changes_nothing(subject: Subject) -> None:
    if Searchable not in subject.capabilities:
        pytest.skip("this provider generates no manifests")
    assert isinstance(subject.resource_type, Searchable)
    owned = subject.create(subject.desired(subject.owned))
    foreign = subject.create_foreign()
    by_tag = subject.resource_type.search(Selection(tags=(subject.stack.owner_tag,)), subject.ctx)
    by_id = subject.resource_type.search(Selection(ids=(foreign.id,)), subject.ctx)
    assert [item.observed.id for item in by_tag] == [owned.id]
    assert [item.observed.id for item in by_id] == [foreign.id]
    assert list(subject.read()) == [owned.id] and list(subject.read(OTHER_STACK_TAG)) == [foreign.id]


def test_discovery_finds_a_declared_resource_the_stack_lost_track_of(subject: Subject) -> None:
    if Discoverable not in subject.capabilities:
        pytest.skip("this provider's resources are the stack's by tag: it discovers none")
    assert isinstance(subject.resource_type, Discoverable)
    desired = subject.desired(subject.owned)
    assert subject.resource_type.discover(DiscoverRequest(desired), subject.ctx) is None, "nothing where the manifest puts it yet"
    made = subject.create(desired)
    subject.resource_type.delete(DeleteRequest(made), subject.ctx)  # the record goes, the files stay
    assert subject.read() == {}
    found = subject.resource_type.discover(DiscoverRequest(desired), subject.ctx)
    assert found is not None and found.id == made.id and found.replace_reason is None
    assert list(subject.read()) == [made.id]


def test_forgetting_stops_owning_without_deleting(subject: Subject) -> None:
    if Forgettable not in subject.capabilities:
        pytest.skip("this provider cannot stop owning a resource without deleting it")
    assert isinstance(subject.resource_type, Forgettable)
    desired = subject.desired(subject.owned)
    made = subject.create(desired)
    assert subject.resource_type.forget(ForgetRequest(made), subject.ctx)
    assert subject.read() == {}, "the stack no longer owns it"
    if isinstance(subject.resource_type, NameCheckable):  # it is still there, untagged
        found = subject.resource_type.same_name(SameNameRequest((desired.backend_name,)), subject.ctx)
        assert [unowned.id for unowned in found] == [made.id]
    if isinstance(subject.resource_type, Discoverable):  # its files are still there, where the manifest puts them
        found_again = subject.resource_type.discover(DiscoverRequest(desired), subject.ctx)
        assert found_again is not None and found_again.id == made.id


def test_each_family_registers_the_kinds_its_classes_declare_once() -> None:
    from fldecl.providers.local import LocalRecords
    from fldecl.providers.nvflare import NvflareResources
    from fldecl.providers.wml import WmlResources
    from fldecl.providers.workspace import WorkspaceRecords

    assert sorted(LocalRecords.registry) == ["Model", "RemoteTrainingSystem", "Training"]
    assert sorted(NvflareResources.registry) == ["RemoteTrainingSystem", "Training"]  # its models are stored as local stores them
    assert sorted(WmlResources.registry) == ["Model", "RemoteTrainingSystem", "Training"]
    assert sorted(WorkspaceRecords.registry) == ["CertificateAuthority", "DataSplit", "PartyCertificate"]
    with pytest.raises(TypeError, match="Models serves Model in this family already"):
        type("SecondModels", (LocalRecords,), {"kind": "Model"})
    assert LocalRecords.registry["Model"].__name__ == "Models"
