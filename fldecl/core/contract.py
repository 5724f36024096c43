"""The provider contract: the one small interface every backend implements.

Modelled on Terraform's plugin framework: a provider serves one *resource type* per kind
(read / create / update / delete / adopt), and the reconciler core talks to a backend only
through them. A resource type never sees manifests: it receives a resource's *attributes* (its
``spec`` with references already resolved to the ids of the resources they name) and returns
what it observes, in the same attribute space, so that the core can diff the two without
knowing anything about the backend.

Ownership follows Kubernetes labels: every resource a provider creates carries the stack's
ownership tags *in the create call itself*, and ``read`` returns only resources that carry the
ownership tag, so nothing that the stack does not own is ever planned, changed or deleted.

Besides resources, a backend runs a party of one of its trainings (``fldecl party run``): the
CLI asks the reconciler, which hands the backend a :class:`PartyRun` of observed resources.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from fldecl.core.errors import ProviderError


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
    its test data), the bytes it sent and received, and whether its update was fused."""

    metrics: dict[str, float]
    bytes_sent: int = 0
    bytes_received: int = 0
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


@dataclass
class Desired:
    """One resource as the manifests declare it, ready for a provider call.

    ``attributes`` have references resolved to ids (of resources that already exist or were just
    created in this apply). ``tags`` include the stack's ownership tag. ``dependencies`` maps every
    address this one depends on, transitively, to the provider's current view of it, so that e.g.
    a party certificate can read its CA's files or a training can reach its parties' certificates.
    """

    kind: str
    name: str
    attributes: dict[str, Any]
    tags: list[str]
    dependencies: dict[str, Observed] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"{self.kind}/{self.name}"

    def dependency(self, resource_id: str) -> Observed | None:
        """The dependency with this id (references in ``attributes`` hold ids)."""
        return next((obs for obs in self.dependencies.values() if obs.id == resource_id), None)


class Reporter(Protocol):
    """Where a long-running provider call reports progress (one line each)."""

    def progress(self, address: str, message: str) -> None: ...


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

        Costs a bounded number of backend calls (list calls with paging), never one call per
        resource.
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

    def adopt(self, resource_id: str, desired: Desired, ctx: ProviderContext) -> Observed:
        """Take an existing resource under management (``fldecl import``): add ``desired.tags``.

        Like Terraform's import, the resource must be declared; its attributes are left as they
        are, so the next plan shows how they differ from the manifest.
        """
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


class PartyRunner(Protocol):
    """A backend's way of running one party of its trainings on this machine, until the training ends."""

    def run_party(self, run: PartyRun, ctx: ProviderContext) -> None: ...


@dataclass(frozen=True)
class Providers:
    """What the reconciler is given: one resource type per kind, and the backend that runs parties.

    ``calls`` counts the backend requests made so far (benchmarks and tests check that reading a
    stack costs one request per kind and page).
    """

    resources: Mapping[str, ResourceType]
    parties: PartyRunner
    calls: Callable[[], int] = lambda: 0
