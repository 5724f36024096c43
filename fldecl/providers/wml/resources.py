"""What the wml resource types share: tag-filtered reads, documents as observed resources, and
creates that a retry never duplicates.

A create that may have reached WML before its answer was lost (a :class:`TransientError`
around it) marks the address *unsure*; the next attempt first looks the resource up by tag and
name, and completes what it finds instead of sending the create again.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from fldecl.core.contract import (
    AdoptRequest,
    CreateRequest,
    DeleteRequest,
    Desired,
    ForgetRequest,
    Found,
    Observed,
    ProviderContext,
    ReadRequest,
    SameNameRequest,
    Selection,
    Unowned,
    UpdateRequest,
)
from fldecl.core.errors import NotFoundError, TransientError
from fldecl.providers.family import ResourceFamily
from fldecl.providers.wml import mapping
from fldecl.providers.wml.connection import WmlSession
from fldecl.providers.wml.rest import RestReads
from fldecl.providers.wml.specs import Specifications

Document = dict[str, Any]


class WmlResources(ResourceFamily, ABC):
    """One kind on WML. Subclasses say how to list, create and delete it, and how its documents map to attributes.

    Reads go through WML's REST API (:mod:`.rest`), filtered by tag on the server; writes go
    through IBM's client. Members take ``(session, specs, reads)`` and observe with
    ``observe(document, ctx)``; WML resources are the stack's by tag, so none is discovered (an
    untagged one is adopted with ``fldecl import``).
    """

    registry: ClassVar[dict[str, type[Any]]] = {}
    #: The REST collection, e.g. ``/ml/v4/models``.
    collection: ClassVar[str]

    def __init__(self, session: WmlSession, specs: Specifications, reads: RestReads) -> None:
        self.session = session
        self.specs = specs
        self.reads = reads
        self._lock = threading.Lock()
        self._unsure: set[str] = set()

    def read(self, request: ReadRequest, ctx: ProviderContext) -> list[Observed]:
        return [self.observe(document, ctx) for document in self.tagged(request.tag)]

    def same_name(self, request: SameNameRequest, ctx: ProviderContext) -> list[Unowned]:
        wanted = set(request.names)
        documents = self.reads.list(self.collection, f"looking for {self.kind} resources named {', '.join(sorted(wanted))}")
        return [Unowned(self.kind, document["metadata"].get("name") or "", document["metadata"]["id"],
                        tuple(document["metadata"].get("tags") or []))
                for document in documents if document["metadata"].get("name") in wanted
                and ctx.owner_tag not in (document["metadata"].get("tags") or [])]

    def tagged(self, tag: str) -> list[Document]:
        """The documents of this kind that carry ``tag``: WML filters, and what it sends is checked again."""
        documents = self.reads.list(self.collection, f"listing {self.kind} resources", **{"tag.value": tag})
        return [document for document in documents if tag in (document["metadata"].get("tags") or [])]

    def create(self, request: CreateRequest, ctx: ProviderContext) -> Observed:
        desired = request.desired
        with self._lock:
            unsure = desired.address in self._unsure
        document = self.recover(desired, ctx) if unsure else None
        if document is None:
            document = self.make(desired, ctx)
        with self._lock:
            self._unsure.discard(desired.address)
        return self.created(document, desired, ctx)

    def delete(self, request: DeleteRequest, ctx: ProviderContext) -> None:
        current = request.current
        with contextlib.suppress(NotFoundError):  # gone already: an earlier attempt whose answer was lost
            self.session.call(lambda client: self.delete_document(client, current.id), f"deleting {current.address}")

    def search(self, selection: Selection, ctx: ProviderContext) -> list[Found]:
        """Documents with one of the tags (one list per tag) or one of the ids (one read each; other kinds' ids are skipped)."""
        documents: dict[str, Document] = {}
        for tag in selection.tags:
            documents.update((d["metadata"]["id"], d) for d in self.tagged(tag))
        for resource_id in selection.ids:
            if resource_id not in documents:
                with contextlib.suppress(NotFoundError):
                    documents[resource_id] = self.session.retried(functools.partial(self.get_document, resource_id=resource_id),
                                                                  f"reading {self.kind} {resource_id}")
        return [self.found(document, ctx) for document in documents.values()]

    def found(self, document: Document, ctx: ProviderContext) -> Found:
        """A document the search found, known by its WML name."""
        observed = self.observe(document, ctx)
        observed.name = document["metadata"].get("name") or observed.id
        return Found(observed)

    # What subclasses define or refine

    @abstractmethod
    def list_documents(self, client: Any, tag: str) -> list[Document]:
        """Every document of this kind in the project, through IBM's client (filtered by ``tag`` where it can):
        what an interrupted create looks through, untagged documents included."""

    @abstractmethod
    def get_document(self, client: Any, resource_id: str) -> Document: ...

    @abstractmethod
    def delete_document(self, client: Any, resource_id: str) -> None: ...

    @abstractmethod
    def attributes(self, document: Document) -> dict[str, Any]:
        """The document in the manifests' attribute space."""

    @abstractmethod
    def make(self, desired: Desired, ctx: ProviderContext) -> Document:
        """The create call itself (inside :meth:`may_create`)."""

    def complete(self, document: Document, desired: Desired, ctx: ProviderContext) -> Document:
        """Finish what an interrupted create left; most kinds are whole once created."""
        return document

    def created(self, document: Document, desired: Desired, ctx: ProviderContext) -> Observed:
        return self.observe(document, ctx)

    def observe(self, document: Document, ctx: ProviderContext) -> Observed:
        metadata = document["metadata"]
        return Observed(kind=self.kind, name=mapping.manifest_name(document), id=metadata["id"], tags=list(metadata.get("tags") or []),
                        attributes=self.attributes(document), created_at=metadata.get("created_at"),
                        updated_at=metadata.get("modified_at"), document=document.get("entity") or {})

    def recovered(self, document: Document, desired: Desired) -> bool:
        """Whether ``document`` (of the desired name, without the ownership tag) came from this create."""
        return False

    # Shared machinery

    def recover(self, desired: Desired, ctx: ProviderContext) -> Document | None:
        """What an earlier attempt at this create left (completed now), or None if it left nothing."""
        documents = self.session.retried(lambda client: self.list_documents(client, ctx.owner_tag),
                                         f"looking for {desired.address} after an interrupted create")
        made = [document for document in documents if document["metadata"].get("name") == desired.backend_name
                and (ctx.owner_tag in (document["metadata"].get("tags") or []) or self.recovered(document, desired))]
        if not made:
            return None
        ctx.reporter.progress(desired.address, f"found {made[0]['metadata']['id']} from an interrupted attempt; completing it")
        return self.complete(made[0], desired, ctx)

    @contextmanager
    def may_create(self, desired: Desired) -> Iterator[None]:
        """Around a call that creates: if its outcome is unknown, the next attempt looks first."""
        try:
            yield
        except TransientError:
            with self._lock:
                self._unsure.add(desired.address)
            raise


class TaggableResources(WmlResources):
    """Kinds WML lets fldecl change after creation (models, remote training systems): update and adopt."""

    @abstractmethod
    def update_document(self, client: Any, resource_id: str, changes: dict[str, Any]) -> Document: ...

    @abstractmethod
    def changes(self, current: Observed, desired: Desired) -> dict[str, Any]:
        """The update call's changes for ``desired``."""

    def update(self, request: UpdateRequest, ctx: ProviderContext) -> Observed:
        current, desired = request.current, request.desired
        changes = self.changes(current, desired)
        document = self.session.call(lambda client: self.update_document(client, current.id, changes),
                                     f"updating {desired.address}")
        return self.observe(document, ctx)

    def adopt(self, request: AdoptRequest, ctx: ProviderContext) -> Observed:
        """Add the stack's tags to a resource made elsewhere (e.g. by the notebook), and record its manifest name
        and what else fldecl can verify about it; its WML name and fields stay as they are."""
        resource_id, desired = request.resource_id, request.desired
        try:
            document = self.session.retried(lambda client: self.get_document(client, resource_id),
                                            f"reading {self.kind} {resource_id}")
        except NotFoundError:
            raise NotFoundError(f"no {self.kind} with id {resource_id} in {self.session.credentials.scope_variable}") from None
        entity = document.get("entity") or {}
        held = list(document["metadata"].get("tags") or [])
        extras = {**mapping.extras_of(entity), **self.verified_extras(document, desired, ctx)}
        changes = {"tags": held + [tag for tag in desired.tags if tag not in held],
                   "custom": mapping.custom_with(entity.get("custom"), extras, desired.name)}
        document = self.session.retried(lambda client: self.update_document(client, resource_id, changes),
                                        f"tagging {self.kind} {resource_id}")
        return self.observe(document, ctx)

    def forget(self, request: ForgetRequest, ctx: ProviderContext) -> str:
        current = request.current
        """``fldecl state rm``: the resource stays on WML as it is, without the stack's ownership tag."""
        tags = [tag for tag in current.tags if tag != ctx.owner_tag]
        self.session.call(lambda client: self.update_document(client, current.id, {"tags": tags}), f"untagging {current.address}")
        return f"removed the tag {ctx.owner_tag}; the resource stays on WML"

    def verified_extras(self, document: Document, desired: Desired, ctx: ProviderContext) -> dict[str, Any]:
        """What fldecl records in ``custom`` when it creates one of these and can check on ``document`` now."""
        return {}
