"""The provider contract: the one small interface every backend implements.

Modelled on Terraform's provider protocol. The reconciler core never talks to a backend other
than through these methods, and a provider never sees manifests: it receives a resource's
*attributes* (its ``spec`` with references already resolved to the ids of the resources they
name) and returns what it observes, in the same attribute space, so that the core can diff the
two without knowing anything about the backend.

Ownership follows Kubernetes labels: every resource a provider creates carries the stack's
ownership tags *in the create call itself*, and ``read`` returns only resources that carry the
ownership tag, so nothing that the stack does not own is ever planned, changed or deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class ProviderError(Exception):
    """A failure the user should read: printed as one line, never as a traceback."""


class TransientError(ProviderError):
    """A failure worth retrying (rate limit, 5xx, dropped connection).

    ``retry_after`` carries a server's ``Retry-After`` hint in seconds, when it gave one.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotFoundError(ProviderError):
    """The resource an id names does not exist (e.g. ``fldecl import`` of a wrong id)."""


@dataclass
class Observed:
    """One resource as the backend holds it: pyinfra's *fact*, as opposed to the desired *operation*.

    ``attributes`` mirrors the manifest's ``spec`` (plus derived fields such as a model's
    ``content_hash``), with references expressed as the ids of the resources they point to.
    ``replace_reason`` lets a provider ask for a replacement the attributes cannot show (a failed
    training, a certificate inside its renewal window, a key that breaks the rules).
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
    details: dict[str, Any] = field(default_factory=dict)

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


class Reporter(Protocol):
    """Where a long-running provider call reports progress (rich progress on a terminal)."""

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


class Provider(Protocol):
    """A backend: read what the stack owns, create, update, delete (and adopt, for ``import``)."""

    #: Kinds this provider manages, e.g. ``{"Model", "RemoteTrainingSystem", "Training"}``.
    kinds: frozenset[str]

    def read(self, kind: str, ctx: ProviderContext) -> list[Observed]:
        """Every resource of ``kind`` that carries ``ctx.owner_tag``.

        Costs a bounded number of backend calls per kind (list calls with paging), never one
        call per resource.
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


ProviderFactory = Callable[[dict[str, Any]], Provider]
