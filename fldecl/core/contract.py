"""The provider contract: the one small interface every backend implements.

Modelled on Terraform's plugin framework: a provider serves one *resource type* per kind, and
the reconciler core talks to a backend only through it. Four operations are required
(:class:`ResourceType`: read, create, update, delete), each taking one typed, frozen request
(:class:`ReadRequest`, :class:`CreateRequest`, :class:`UpdateRequest`, :class:`DeleteRequest`);
the rest are capabilities a resource type opts into, as Terraform's ``ResourceWithImportState``,
and that the core checks with ``isinstance``: :class:`Discoverable`, :class:`NameCheckable`,
:class:`Adoptable`, :class:`Searchable`, :class:`Forgettable`, :class:`Composite`.

A resource type never sees manifests: it receives a resource's *attributes* (its ``spec`` with
references already resolved to the ids of the resources they name) and returns what it observes,
in the same attribute space, so that the core can diff the two without knowing anything about the
backend. What a kind knows beyond its attributes (a training's rounds) travels opaque, in
:attr:`Observed.details`, for the kind's own layer to render.

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

Besides resources, a :class:`Backend` holds the stack's lock where every runner sees it; what else
it does for a kind (running a training's party) is a capability that kind defines.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

NAME_ATTRIBUTE = "name"
"""The attribute that holds a resource's name in the backend, for the kinds whose schema has ``spec.name``."""


class Details(Protocol):
    """What a kind knows of a resource beyond its attributes (a training's rounds): opaque to the core,
    rendered by the kind's layer, and printed as this dictionary by ``show --json``."""

    def to_dict(self) -> dict[str, Any]: ...


@dataclass
class Observed:
    """One resource as the backend holds it: pyinfra's *fact*, as opposed to the desired *operation*.

    ``attributes`` mirrors the manifest's ``spec`` (plus derived fields such as a model's
    ``content_hash``), with references expressed as the ids of the resources they point to.
    ``replace_reason`` lets a provider ask for a replacement the attributes cannot show (a failed
    training, a certificate inside its renewal window, a key that breaks the rules); ``update_reason``,
    for an in-place update they cannot show (a process of the resource's to start again), which keeps
    its id and so leaves what depends on it alone.
    ``document`` is the backend's own record, as it holds it: ``show --json`` prints it, and
    only the provider that made it reads it back. ``details`` is the kind's own (see :class:`Details`).
    ``outputs`` are named values the resource offers parties and scripts besides its id (an NVFlare
    site's kit directory): ``fldecl output`` prints each as ``KIND/NAME.NAME``.
    """

    kind: str
    name: str
    id: str
    tags: list[str]
    attributes: dict[str, Any]
    status: str | None = None
    replace_reason: str | None = None
    update_reason: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    details: Details | None = None
    document: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)

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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class ApplyOptions:
    """How the CLI asks for an apply or a destroy: built once from its flags, read by the core and the providers."""

    parallelism: int = 10
    lock_timeout: float = 0.0
    auto_approve: bool = False
    #: Follow long operations (a training) to their end; False for ``--no-wait``.
    wait: bool = True
    #: ``destroy --delete-files``: deleting a resource made of key files deletes the files too.
    delete_key_files: bool = False


# One request per operation, as Terraform's CreateRequest / ReadRequest / UpdateRequest / DeleteRequest.


@dataclass(frozen=True)
class ReadRequest:
    """Read every resource of the kind that carries ``tag`` (the stack's ownership tag)."""

    tag: str


@dataclass(frozen=True)
class CreateRequest:
    """Create ``desired``, with ``desired.tags`` set in the create call itself."""

    desired: Desired


@dataclass(frozen=True)
class UpdateRequest:
    """Change ``current`` in place into ``desired``; ``changed`` lists the attribute paths that differ."""

    current: Observed
    desired: Desired
    changed: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeleteRequest:
    """Delete ``current``, which carries the ownership tag; ``delete_key_files`` as in :class:`ApplyOptions`."""

    current: Observed
    delete_key_files: bool = False


@dataclass(frozen=True)
class DiscoverRequest:
    """Look for ``desired`` where its manifest puts it, when the stack has no record of it."""

    desired: Desired


@dataclass(frozen=True)
class SameNameRequest:
    """Which of these backend ``names`` resources the stack does not own already have."""

    names: tuple[str, ...]


@dataclass(frozen=True)
class AdoptRequest:
    """Take the existing resource ``resource_id`` under management as ``desired`` (``fldecl import``)."""

    resource_id: str
    desired: Desired


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


class ResourceType(Protocol):
    """One kind on one backend, what every one must do: read what the stack owns, create, update, delete."""

    def read(self, request: ReadRequest, ctx: ProviderContext) -> list[Observed]:
        """Every resource of this kind that carries ``request.tag``, and no other.

        Costs a bounded number of backend calls (list calls with paging, filtered by tag where the
        backend can), growing with what the stack owns, never with what else the backend holds.
        """
        ...

    def create(self, request: CreateRequest, ctx: ProviderContext) -> Observed: ...

    def update(self, request: UpdateRequest, ctx: ProviderContext) -> Observed:
        """A kind that cannot change in place raises :class:`~fldecl.core.errors.ProviderError` (its schema makes it immutable)."""
        ...

    def delete(self, request: DeleteRequest, ctx: ProviderContext) -> None:
        """Delete an owned resource (the core never passes one without the ownership tag); one gone already is not an error."""
        ...


@runtime_checkable
class Discoverable(Protocol):
    """A resource type whose resources *are* their declared files, found where the manifests put them."""

    def discover(self, request: DiscoverRequest, ctx: ProviderContext) -> Observed | None:
        """The declared resource the stack has no record of, found where its manifest puts it, or None.

        For resources that are their declared files (a CA's key and certificate at the declared
        paths): after a lost or fresh record they are recorded and used, never silently replaced.
        What was found but cannot be used comes back with a ``replace_reason``, so the plan shows
        the replacement and why, and apply asks for approval first.
        """
        ...


@runtime_checkable
class NameCheckable(Protocol):
    """A resource type whose backend may hold resources the stack does not own under the names it would create."""

    def same_name(self, request: SameNameRequest, ctx: ProviderContext) -> list[Unowned]:
        """Resources of this kind with one of ``request.names`` that do not carry ``ctx.owner_tag``.

        Asked only for what a plan would create, so that the plan can say a name is taken and how
        to import that resource instead; a no-op plan never pays for it.
        """
        ...


@runtime_checkable
class Adoptable(Protocol):
    """A resource type that can take an existing resource under management (``fldecl import``)."""

    def adopt(self, request: AdoptRequest, ctx: ProviderContext) -> Observed:
        """Add ``request.desired.tags`` to the resource ``request.resource_id``.

        Like Terraform's import, the resource must be declared; its attributes are left as they
        are, so the next plan shows how they differ from the manifest. What fldecl would record
        at creation and can verify now (the manifest name; a model's content hash, computed from
        its stored content) is recorded, so an import of what the manifest declares plans clean.
        """
        ...


@dataclass(frozen=True)
class ForgetRequest:
    """Stop the stack owning ``current`` without deleting it (``fldecl state rm``)."""

    current: Observed


@runtime_checkable
class Forgettable(Protocol):
    """A resource type that can stop the stack owning a resource without deleting it (``fldecl state rm``, as
    Terraform's ``state rm``): the next plan no longer sees it, and plans to create what the manifests declare."""

    def forget(self, request: ForgetRequest, ctx: ProviderContext) -> str:
        """Remove ``ctx.owner_tag`` from ``request.current`` where the backend holds tags (the resource stays as it
        is), or drop fldecl's record of it where fldecl keeps one (the files stay); returns what was done, for the user."""
        ...


@runtime_checkable
class Searchable(Protocol):
    """A resource type that can search the backend for what exists, owned or not, to generate its manifests.

    (Unlike ``discover``, which looks for one declared resource where its manifest puts it.)
    """

    def search(self, selection: Selection, ctx: ProviderContext) -> list[Found]:
        """The resources of this kind with any of ``selection.tags`` or one of ``selection.ids`` (read only)."""
        ...


@dataclass(frozen=True)
class PlannedChange:
    """What a plan does to one resource, as a provider is told: ``action`` (``create``, ``update``, ``replace`` or
    ``delete``) and its attributes after it (``None`` for a delete; a reference to what is made by the same apply
    is not known yet)."""

    action: str
    after: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class PartChange:
    """What apply does to a part of a resource that its attributes do not show (an NVFlare site's startup kit).

    ``action`` is ``create``, ``update`` or ``delete``, as a plan's; ``part`` names the part and where it is;
    ``reason`` says why, if the action alone does not.
    """

    action: str
    part: str
    reason: str = ""


@dataclass(frozen=True)
class PartsRequest:
    """What a plan does to one resource, for its resource type to say what that does to the resource's parts.

    ``change`` is the resource's own planned change; ``current`` the resource as the backend holds it (None for a
    create); ``desired`` as declared, references resolved to what exists now (None for a delete);
    ``dependencies`` what the plan does to the resources this one depends on, by address (those it changes only).
    """

    change: PlannedChange
    current: Observed | None
    desired: Desired | None
    dependencies: Mapping[str, PlannedChange] = field(default_factory=dict)


@runtime_checkable
class Composite(Protocol):
    """A resource type whose resources hold parts their attributes do not show (an NVFlare site's startup kit).

    What a change does to them is stated on the resource's plan line, so that a reviewer sees each part built,
    rebuilt (and why) or removed before approving, and apply then does exactly that. A part that must change while
    the attributes do not (a kit file edited) makes the resource's ``update_reason``, as any in-place update.
    """

    def part_changes(self, request: PartsRequest, ctx: ProviderContext) -> list[PartChange]:
        """What apply does to the parts of ``request``'s resource; asked only for a resource the plan changes."""
        ...


class Backend(Protocol):
    """What a backend does besides its resource types: hold the stack's lock."""

    def lock(self, operation: str, timeout: float, ctx: ProviderContext) -> AbstractContextManager[None]:
        """Hold the stack's lock where every runner of this stack can see it, for ``operation`` (apply,
        destroy, import); wait up to ``timeout`` seconds for another holder, then raise
        :class:`~fldecl.core.errors.LockBusy` naming it and how to break it if it died."""
        ...

    def force_unlock(self, lock_id: str, ctx: ProviderContext) -> str:
        """Break the lock ``lock_id`` a dead run left (``fldecl force-unlock``); says what was broken."""
        ...


@runtime_checkable
class WithOutputs(Protocol):
    """A backend that holds values of its own, which no one resource holds (the NVFlare server's kit directory)."""

    def outputs(self, ctx: ProviderContext) -> dict[str, str]:
        """Named values for parties and scripts, which ``fldecl output`` prints as ``BACKEND.NAME``; only what exists."""
        ...


@dataclass(frozen=True)
class Membership:
    """A resource that joins another (a party of a training), both as the backend holds them.

    ``related`` is everything the stack owns, by id, so the backend can follow the references of
    both (a party's certificate, that certificate's CA, the training's model).
    """

    member: Observed
    group: Observed
    related: Mapping[str, Observed]


@dataclass(frozen=True)
class Providers:
    """What the reconciler is given: one resource type per kind, and the stack's backend.

    ``calls`` counts the backend requests made so far (benchmarks and tests check that reading a
    stack costs one request per kind and page).
    """

    resources: Mapping[str, ResourceType]
    backend: Backend
    calls: Callable[[], int] = lambda: 0
