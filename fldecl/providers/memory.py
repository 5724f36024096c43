"""An in-memory backend: the provider contract's test double, shipped as httpx ships ``MockTransport``.

It keeps what it holds in a dict, in this process, and implements the contract as a real
backend must: read returns only what carries the tag asked for, creates carry their tags,
deletes of what is gone already succeed, and it opts into name checks, adoption and search (not
discovery: it has no files to find). The core's tests drive the reconciler with it, and the
conformance test holds every provider to what it does. ``failures`` scripts what a create
raises, per manifest name (a transient error to retry, a failure to isolate); ``calls`` records
each create and delete, in order.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from fldecl.core.contract import (
    NAME_ATTRIBUTE,
    AdoptRequest,
    CreateRequest,
    DeleteRequest,
    Found,
    Observed,
    ProviderContext,
    Providers,
    ReadRequest,
    SameNameRequest,
    Selection,
    Unowned,
    UpdateRequest,
)
from fldecl.core.errors import LockBusy, NotFoundError


class MemoryBackend:
    """What the memory provider holds, by id, for the kinds it serves; its resource types and its lock."""

    def __init__(self, kinds: Iterable[str]) -> None:
        self.held: dict[str, Observed] = {}
        self.failures: dict[str, list[Exception]] = {}
        self.calls: list[tuple[str, str]] = []
        self.reads = 0
        self.resources = {kind: MemoryResources(self, kind) for kind in kinds}
        self._ids = itertools.count(1)
        self._mutex = threading.Lock()
        self._lock = threading.Lock()
        self._holder = ""

    def providers(self) -> Providers:
        """The reconciler's view of this backend."""
        return Providers(dict(self.resources), self, lambda: self.reads)

    def new_id(self) -> str:
        with self._mutex:
            return f"id-{next(self._ids)}"

    @contextmanager
    def lock(self, operation: str, timeout: float, ctx: ProviderContext) -> Iterator[None]:
        """One holder at a time in this process; a waiter gives up after ``timeout`` seconds, naming the holder."""
        acquired = self._lock.acquire(timeout=timeout) if timeout > 0 else self._lock.acquire(blocking=False)
        if not acquired:
            raise LockBusy(f"the stack is locked by {self._holder}; wait for it to finish")
        self._holder = operation
        try:
            yield
        finally:
            self._holder = ""
            self._lock.release()

    def force_unlock(self, lock_id: str, ctx: ProviderContext) -> str:
        return f"no lock to break: the memory backend's lock lives and dies with its process; {lock_id} is not needed"


class MemoryResources:
    """One kind of the memory backend."""

    def __init__(self, backend: MemoryBackend, kind: str) -> None:
        self.backend, self.kind = backend, kind

    def _of_kind(self) -> list[Observed]:
        return [obs for obs in self.backend.held.values() if obs.kind == self.kind]

    def read(self, request: ReadRequest, ctx: ProviderContext) -> list[Observed]:
        self.backend.reads += 1
        return [obs for obs in self._of_kind() if request.tag in obs.tags]

    def create(self, request: CreateRequest, ctx: ProviderContext) -> Observed:
        desired = request.desired
        self.backend.calls.append(("create", desired.address))
        pending = self.backend.failures.get(desired.name)
        if pending:
            raise pending.pop(0)
        made = Observed(desired.kind, desired.name, self.backend.new_id(), list(desired.tags), dict(desired.attributes))
        self.backend.held[made.id] = made
        return made

    def update(self, request: UpdateRequest, ctx: ProviderContext) -> Observed:
        held = self.backend.held.get(request.current.id)
        if held is None:
            raise NotFoundError(f"{request.current.address} ({request.current.id}) is gone from the memory backend")
        held.name, held.attributes = request.desired.name, dict(request.desired.attributes)
        return held

    def delete(self, request: DeleteRequest, ctx: ProviderContext) -> None:
        self.backend.calls.append(("delete", request.current.address))
        self.backend.held.pop(request.current.id, None)

    def same_name(self, request: SameNameRequest, ctx: ProviderContext) -> list[Unowned]:
        return [Unowned(self.kind, _backend_name(obs), obs.id, tuple(obs.tags)) for obs in self._of_kind()
                if _backend_name(obs) in request.names and ctx.owner_tag not in obs.tags]

    def adopt(self, request: AdoptRequest, ctx: ProviderContext) -> Observed:
        held = self.backend.held.get(request.resource_id)
        if held is None or held.kind != self.kind:
            raise NotFoundError(f"no {self.kind} with id {request.resource_id} in the memory backend")
        held.name = request.desired.name
        held.tags += [tag for tag in request.desired.tags if tag not in held.tags]
        return held

    def search(self, selection: Selection, ctx: ProviderContext) -> list[Found]:
        return [Found(dataclasses.replace(obs, name=_backend_name(obs), attributes=dict(obs.attributes))) for obs in self._of_kind()
                if obs.id in selection.ids or set(selection.tags) & set(obs.tags)]


def _backend_name(observed: Observed) -> str:
    return str(observed.attributes.get(NAME_ATTRIBUTE, observed.name))
