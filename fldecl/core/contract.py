"""The provider contract: the one small interface every backend implements.

Modelled on Terraform's plugin framework: a provider serves one *resource type* per kind
(read / create / update / delete / adopt), and the reconciler core talks to a backend only
through them. A resource type never sees manifests: it receives a resource's *attributes* (its
``spec`` with references already resolved to the ids of the resources they name) and returns
what it observes, in the same attribute space, so that the core can diff the two without
knowing anything about the backend.

Ownership follows Kubernetes labels: every resource a provider creates carries the stack's
ownership tags *in the create call itself*, and ``read`` observes only resources that carry the
ownership tag, so nothing that the stack does not own is ever planned, changed or deleted. Of the
others, ``same_name`` reports only a name and an id (:class:`Unowned`), so that a plan can say
when what it would create already exists untagged, and how to import it instead.

Names: a resource is known in the manifests by ``KIND/NAME`` (``Observed.name``, ``Desired.name``)
and in the backend by its ``name`` attribute where its kind has one (``spec.name``, by default
the manifest name), so a backend name that no manifest name could spell (``Remote Party 1``) can
be managed. A provider records the manifest name with what it creates or adopts, so a rename in
either place is an update, not a new resource.

Besides resources, a :class:`Backend` holds the stack's lock where every runner sees it, and runs
a party of one of its trainings (``fldecl party run``) or hands it a :class:`PartyKit` to join by
itself (``fldecl party config``): the CLI asks the reconciler, which hands the backend a
:class:`PartyRun` of observed resources.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from fldecl.core.errors import ProviderError

NAME_ATTRIBUTE = "name"
"""The attribute that holds a resource's name in the backend, for the kinds whose schema has ``spec.name``."""


@dataclass(frozen=True)
class Endpoint:
    """Where a training's aggregator listens."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class PartyRound:
    """One party in one round: its metrics (local training, and ``fused_*``: the fused model scored on
    its test data), the bytes it sent and received (None where the backend does not report them), and
    whether its update was fused."""

    metrics: dict[str, float]
    bytes_sent: int | None = None
    bytes_received: int | None = None
    contributed: bool = True


@dataclass(frozen=True)
class RoundRecord:
    """One completed round: the fused model's metrics and each party's own."""

    round: int
    fused: dict[str, float]
    parties: dict[str, PartyRound]
    seconds: float | None = None


@dataclass(frozen=True)
class TrainingProgress:
    """What a backend knows of a training beyond its attributes: what ``show`` prints, what a party needs."""

    state: str
    reason: str | None = None
    rounds: tuple[RoundRecord, ...] = ()
    aggregator: Endpoint | None = None
    work_dir: str | None = None
    plot: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Observed:
    """One resource as the backend holds it: pyinfra's *fact*, as opposed to the desired *operation*.

    ``attributes`` mirrors the manifest's ``spec`` (plus derived fields such as a model's
    ``content_hash``), with references expressed as the ids of the resources they point to.
    ``replace_reason`` lets a provider ask for a replacement the attributes cannot show (a failed
    training, a certificate inside its renewal window, a key that breaks the rules).
    ``document`` is the backend's own record, as it holds it: ``show --json`` prints it, and
    only the provider that made it reads it back.
    """

    kind: str
    name: str
    id: str
    tags: list[str]
    attributes: dict[str, Any]
    status: str | None = None
    replace_reason: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    progress: TrainingProgress | None = None
    document: dict[str, Any] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class Unowned:
    """A resource of the backend without this stack's ownership tag: only its name and id are read.

    ``name`` is its name in the backend; ``tags`` say whether another stack owns it.
    """

    kind: str
    name: str
    id: str
    tags: tuple[str, ...] = ()


@dataclass
class Desired:
    """One resource as the manifests declare it, ready for a provider call.

    ``attributes`` have references resolved to ids (of resources that already exist or were just
    created in this apply). ``tags`` include the stack's ownership tag. ``dependencies`` maps every
    address this one depends on, transitively, to the provider's current view of it, so that e.g.
    a party certificate can read its CA's files or a training can reach its parties' certificates.
    ``backend_name`` is the name to give it in the backend (its ``name`` attribute, else ``name``).
    """

    kind: str
    name: str
    attributes: dict[str, Any]
    tags: list[str]
    dependencies: dict[str, Observed] = field(default_factory=dict)
    backend_name: str = ""

    def __post_init__(self) -> None:
        if not self.backend_name:
            self.backend_name = str(self.attributes.get(NAME_ATTRIBUTE, self.name))

    @property
    def address(self) -> str:
        return f"{self.kind}/{self.name}"

    def dependency(self, resource_id: str) -> Observed | None:
        """The dependency with this id (references in ``attributes`` hold ids)."""
        return next((obs for obs in self.dependencies.values() if obs.id == resource_id), None)


class Reporter(Protocol):
    """Where a long-running provider call reports progress (one line each)."""

    def progress(self, address: str, message: str) -> None: ...


@runtime_checkable
class RoundsReporter(Protocol):
    """A reporter that also shows a training's rounds as they complete (the CLI: a progress bar on a terminal)."""

    def rounds(self, address: str, completed: int, total: int) -> None: ...


def report_rounds(reporter: Reporter, address: str, completed: int, total: int) -> None:
    """Tell ``reporter`` how many of a training's rounds have completed, if it shows them."""
    if isinstance(reporter, RoundsReporter):
        reporter.rounds(address, completed, total)


@dataclass
class ProviderContext:
    """What every provider call may rely on.

    ``stack_dir`` is the directory of the stack's manifests (paths in attributes are relative to
    it); ``state_dir`` is the stack's private ``.fldecl/`` folder; ``wait`` is False when the user
    asked not to follow long operations (``--no-wait``).
    """

    stack_name: str
    stack_dir: Path
    state_dir: Path
    owner_tag: str
    reporter: Reporter
    wait: bool = True
    options: dict[str, Any] = field(default_factory=dict)


class ResourceType(Protocol):
    """One kind on one backend: read what the stack owns, create, update, delete, adopt."""

    def read(self, ctx: ProviderContext) -> list[Observed]:
        """Every resource of this kind that carries ``ctx.owner_tag``.

        Costs a bounded number of backend calls (list calls with paging, filtered by tag where the
        backend can), growing with what the stack owns, never with what else the backend holds.
        """
        ...

    def same_name(self, names: Collection[str], ctx: ProviderContext) -> list[Unowned]:
        """Resources of this kind with one of these backend names that the stack does not own.

        Asked only for what a plan would create, so that the plan can say a name is taken and how
        to import that resource instead; a no-op plan never pays for it.
        """
        ...

    def create(self, desired: Desired, ctx: ProviderContext) -> Observed:
        """Create the resource with ``desired.tags`` set in the create call itself."""
        ...

    def update(self, current: Observed, desired: Desired, changed: list[str], ctx: ProviderContext) -> Observed:
        """Change ``current`` in place; ``changed`` lists the attribute paths that differ."""
        ...

    def delete(self, current: Observed, ctx: ProviderContext) -> None:
        """Delete an owned resource (the core never passes one without the ownership tag)."""
        ...

    def discover(self, desired: Desired, ctx: ProviderContext) -> Observed | None:
        """A declared resource the stack has no record of, found where the manifests put it, or None.

        For resources that *are* their declared files (a CA's key and certificate at the declared
        paths): after a lost or fresh record they are recorded and used, never silently replaced.
        What was found but cannot be used comes back with a ``replace_reason``, so the plan shows
        the replacement and why, and apply asks for approval first. Backends whose resources are
        found only by tag return None.
        """
        ...

    def adopt(self, resource_id: str, desired: Desired, ctx: ProviderContext) -> Observed:
        """Take an existing resource under management (``fldecl import``): add ``desired.tags``.

        Like Terraform's import, the resource must be declared; its attributes are left as they
        are, so the next plan shows how they differ from the manifest. What fldecl would record
        at creation and can verify now (the manifest name; a model's content hash, computed from
        its stored content) is recorded, so an import of what the manifest declares plans clean.
        """
        ...


@dataclass(frozen=True)
class Selection:
    """What to search a backend for (``fldecl import --generate-into``): resources with any of ``tags``, or one of ``ids``."""

    tags: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()


@dataclass
class Found:
    """A resource a search of the backend found, to be written as a manifest.

    ``observed.name`` is its backend name and ``observed.attributes`` are in the manifests'
    terms (references as ids); ``content`` is a model's stored content. ``why_not_importable``
    says why the backend cannot take it under management, if it cannot: its manifest is then
    written for reference only.
    """

    observed: Observed
    content: bytes | None = None
    why_not_importable: str = ""


@runtime_checkable
class Searchable(Protocol):
    """A resource type that can search the backend for what exists, owned or not, to generate its manifests.

    (Unlike ``discover``, which looks for one declared resource where its manifest puts it.)
    """

    def search(self, selection: Selection, ctx: ProviderContext) -> list[Found]:
        """The resources of this kind with any of ``selection.tags`` or one of ``selection.ids`` (read only)."""
        ...


@runtime_checkable
class Forgettable(Protocol):
    """A resource type that can stop the stack owning a resource without deleting it (``fldecl state rm``,
    Terraform's ``state rm``): the next plan no longer sees it, and plans to create what the manifests declare."""

    def forget(self, current: Observed, ctx: ProviderContext) -> str:
        """Remove ``ctx.owner_tag`` from the resource where the backend holds tags (the resource stays as it is), or
        drop fldecl's record of it where fldecl keeps one (the files stay); returns what was done, for the user."""
        ...


@dataclass(frozen=True)
class LogFile:
    """One log of a training on this machine: its aggregator's, or a party's (``name``)."""

    name: str
    path: Path


@runtime_checkable
class Logged(Protocol):
    """A resource type whose resources leave logs on this machine (``fldecl logs``)."""

    def log_files(self, current: Observed, ctx: ProviderContext) -> list[LogFile]:
        """The logs of ``current`` that this machine holds, the aggregator's first; a file may not exist yet."""
        ...


@dataclass(frozen=True)
class PartyRun:
    """One party of one training, as the backend holds them, and what the user added on the command line.

    ``related`` is everything the stack owns, by id, so the backend can follow the references
    of the party's remote training system (its certificate, that certificate's CA) and of the
    training (its model). ``aggregator`` (HOST:PORT) is for a backend that cannot tell where
    the aggregator listens; ``key_file`` is a CSR party's own private key; ``trust_aggregator``
    lets the party load whatever model the aggregator sends, not only the one its stack declares.
    """

    rts: Observed
    training: Observed
    related: Mapping[str, Observed]
    aggregator: str | None = None
    key_file: Path | None = None
    trust_aggregator: bool = False

    def resource(self, resource_id: str, kind: str) -> Observed:
        """The owned resource of ``kind`` with this id, or an error that says to apply first."""
        found = self.related.get(resource_id)
        if found is None or found.kind != kind:
            raise ProviderError(f"the {kind} {resource_id} this party needs does not exist; run `fldecl apply` first")
        return found


@dataclass(frozen=True)
class PartyKit:
    """What one party needs to join a training by itself with its backend's party runtime; no secret is in it.

    On WML, IBM's party notebook takes exactly these: ``remote_training_systems.create_party(
    remote_training_system_id, party_metadata)``, then ``party.run(aggregator_id=aggregator_id)``.
    References to sensitive variables in ``party_metadata`` stay as written (``${NAME}``), for the
    party to resolve from its own environment.
    """

    party: str
    training: str
    remote_training_system_id: str
    aggregator_id: str
    party_metadata: dict[str, Any]


class Backend(Protocol):
    """What a backend does besides its resource types: hold the stack's lock, run a party, or hand a party its kit."""

    def lock(self, operation: str, timeout: float, ctx: ProviderContext) -> AbstractContextManager[None]:
        """Hold the stack's lock where every runner of this stack can see it, for ``operation`` (apply,
        destroy, import); wait up to ``timeout`` seconds for another holder, then raise
        :class:`~fldecl.core.errors.LockBusy` naming it and how to break it if it died."""
        ...

    def force_unlock(self, lock_id: str, ctx: ProviderContext) -> str:
        """Break the lock ``lock_id`` a dead run left (``fldecl force-unlock``); says what was broken."""
        ...

    def run_party(self, run: PartyRun, ctx: ProviderContext) -> None:
        """Run one party of a training on this machine, until the training ends."""
        ...

    def party_kit(self, run: PartyRun, party_dir: Path, ctx: ProviderContext) -> PartyKit:
        """The kit for ``run``'s party, its paths under ``party_dir`` (the stack directory as the party sees it)."""
        ...


@dataclass(frozen=True)
class Providers:
    """What the reconciler is given: one resource type per kind, and the stack's backend.

    ``calls`` counts the backend requests made so far (benchmarks and tests check that reading a
    stack costs one request per kind and page).
    """

    resources: Mapping[str, ResourceType]
    backend: Backend
    calls: Callable[[], int] = lambda: 0
