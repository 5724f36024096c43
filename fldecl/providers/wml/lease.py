"""The stack's lock on WML: a lease every runner of the stack sees, on any machine.

WML offers no atomic primitive, so the lock is an election among *leases*: small remote training
systems tagged ``fldecl.lock.<stack>`` (not the stack's ownership tag: plans never see them).

* A runner that wants the lock creates its own lease, then lists the stack's leases. The holder
  is the live lease created first (ties broken by id). WML assigns ``created_at`` when a lease is
  made and a list sees every lease made before it, so a lease made later always sees the earlier
  ones: two runners never both hold the lock.
* The holder heartbeats its lease (a counter in ``custom``) while it works. A lease whose counter
  has not moved for :data:`TTL_SECONDS`, as seen on the waiter's own clock (no clocks are
  compared), belongs to a runner that died: waiters delete it, so a killed holder blocks others
  for at most that long. ``fldecl force-unlock LEASE_ID`` breaks it at once.
* A lease records its runner's machine (host name, boot and process namespace) and pid: a
  waiter on that same machine sees at once whether the runner is gone, and gives its lease up
  without waiting for the TTL.
* A waiter keeps its own lease alive and deletes it when it gives up; the holder deletes its own
  when done.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import Any

from fldecl.core.contract import ProviderContext
from fldecl.core.errors import LockBusy, NotFoundError, ProviderError
from fldecl.core.retry import RetryPolicy, with_retries
from fldecl.interrupt import Interrupted, pause
from fldecl.providers.processes import alive
from fldecl.providers.wml.connection import WmlSession
from fldecl.providers.wml.rest import RestReads

TTL_SECONDS = 60.0
HEARTBEATS_PER_TTL = 4
POLL_SECONDS = 2.0
CUSTOM_KEY = "fldecl_lock"
LEASE_WRITES = RetryPolicy(attempts=8, base_delay=0.2, max_delay=5.0, max_total=60.0)


def lock_tag(stack_name: str) -> str:
    return f"fldecl.lock.{stack_name}"


@dataclass(frozen=True)
class Lease:
    """One runner's claim, as WML holds it."""

    id: str
    created_at: str
    nonce: str
    holder: str
    operation: str
    since: str
    heartbeat: int
    machine: str = ""
    pid: int | None = None

    @classmethod
    def of(cls, document: dict[str, Any]) -> Lease:
        metadata, entity = document["metadata"], document.get("entity") or {}
        claim = (entity.get("custom") or {}).get(CUSTOM_KEY) or {}
        pid = claim.get("pid")
        return cls(metadata["id"], metadata.get("created_at") or "", str(claim.get("nonce", "")), str(claim.get("holder", "?")),
                   str(claim.get("operation", "?")), str(claim.get("since", "?")), int(claim.get("heartbeat", 0)),
                   str(claim.get("machine", "")), pid if isinstance(pid, int) else None)

    def runner_gone(self) -> bool:
        """Whether this lease's runner ran on this machine and has exited (then nobody will ever release it)."""
        return self.machine == this_machine() and self.pid is not None and self.pid != os.getpid() and not alive(self.pid)

    def claim(self, heartbeat: int) -> dict[str, Any]:
        """What the lease records in ``custom``, with its heartbeat counter at ``heartbeat``."""
        return {"nonce": self.nonce, "holder": self.holder, "operation": self.operation, "since": self.since,
                "heartbeat": heartbeat, "machine": self.machine, "pid": self.pid}

    @property
    def rank(self) -> tuple[str, str]:
        return (self.created_at, self.id)

    def describe(self) -> str:
        return f"{self.operation} on {self.holder} since {self.since} (lease {self.id})"


class StaleWatch:
    """Which leases stopped heartbeating for longer than the TTL, as seen on this runner's clock."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._seen: dict[str, tuple[int, float]] = {}

    def stale(self, lease: Lease, now: float) -> bool:
        beat, since = self._seen.get(lease.id, (None, now))
        if beat != lease.heartbeat:
            self._seen[lease.id] = (lease.heartbeat, now)
            return False
        return now - since > self.ttl


class WmlLease:
    """The lock of one stack on WML (see the module docstring)."""

    def __init__(self, session: WmlSession, reads: RestReads, stack_name: str, ttl: float = TTL_SECONDS) -> None:
        self.session = session
        self.reads = reads
        self.stack_name = stack_name
        self.tag = lock_tag(stack_name)
        self.ttl = ttl

    @contextmanager
    def held(self, operation: str, timeout: float, ctx: ProviderContext) -> Iterator[None]:
        mine = self._claim(operation)
        beating = threading.Event()
        heartbeat = threading.Thread(target=self._heartbeat, args=(mine, beating, ctx), name="fldecl-lease", daemon=True)
        heartbeat.start()
        try:
            self._wait_for_turn(mine, timeout, ctx)
            yield
        finally:
            beating.set()
            heartbeat.join(timeout=self.ttl)
            self._delete(mine.id)

    def force_unlock(self, lease_id: str) -> str:
        leases = {lease.id: lease for lease in self._leases()}
        if lease_id not in leases:
            held = ", ".join(lease.describe() for lease in leases.values()) or "none"
            raise ProviderError(f"{lease_id} is not a lease of stack {self.stack_name} (its leases: {held})")
        self._delete(lease_id)
        return f"broke the lock held by {leases[lease_id].describe()}"

    def _wait_for_turn(self, mine: Lease, timeout: float, ctx: ProviderContext) -> None:
        deadline = time.monotonic() + timeout
        watch = StaleWatch(self.ttl)
        reported = ""
        while True:
            now = time.monotonic()
            live = []
            for lease in self._leases():
                if lease.id != mine.id and lease.runner_gone():
                    ctx.reporter.progress("lock", f"removing {lease.describe()}: its runner (pid {lease.pid}) on this machine is gone")
                    self._delete(lease.id)
                elif lease.id != mine.id and watch.stale(lease, now):
                    ctx.reporter.progress("lock", f"removing {lease.describe()}: no heartbeat for {self.ttl:g}s, its runner died")
                    self._delete(lease.id)
                else:
                    live.append(lease)
            holder = min(live, key=lambda lease: lease.rank, default=mine)
            if holder.id == mine.id:
                return
            if now >= deadline:
                waited = f" after waiting {timeout:g}s" if timeout else ""
                raise LockBusy(f"the stack is locked by {holder.describe()}{waited}; wait for it to finish, pass "
                               f"--lock-timeout SECONDS to wait, or if that run died: fldecl force-unlock {holder.id}")
            if holder.id != reported:
                reported = holder.id
                ctx.reporter.progress("lock", f"waiting for {holder.describe()}")
            pause(min(POLL_SECONDS, deadline - now))

    def _claim(self, operation: str) -> Lease:
        """Create this runner's lease; a create whose answer was lost is found by its nonce, never made twice."""
        nonce = secrets.token_hex(8)
        claim = {"nonce": nonce, "holder": f"{socket.gethostname()} (pid {os.getpid()})", "operation": operation,
                 "since": datetime.now(timezone.utc).isoformat(timespec="seconds"), "heartbeat": 0,
                 "machine": this_machine(), "pid": os.getpid()}
        meta = {"name": f"fldecl lock {self.stack_name}", "tags": [self.tag], "allowed_identities": [],
                "description": f"fldecl's lock of stack {self.stack_name}: {operation} on {claim['holder']}",
                "custom": {CUSTOM_KEY: claim}}

        def create() -> Lease:
            found = next((lease for lease in self._leases() if lease.nonce == nonce), None)
            if found is not None:
                return found
            return Lease.of(self.session.call(lambda client: client.remote_training_systems.store(meta),
                                              f"taking the lock of stack {self.stack_name}"))

        return with_retries(create, LEASE_WRITES)

    def _heartbeat(self, mine: Lease, stop: threading.Event, ctx: ProviderContext) -> None:
        beat = 0
        while not stop.wait(self.ttl / HEARTBEATS_PER_TTL):
            beat += 1
            try:
                self._renew(mine.id, {CUSTOM_KEY: mine.claim(beat)})
            except NotFoundError:
                ctx.reporter.progress("lock", f"lost the lock: lease {mine.id} was removed (by force-unlock, or after "
                                              f"{self.ttl:g}s without a heartbeat)")
                return
            except ProviderError:
                continue  # the next beat tries again; a lease silent for a whole TTL is given up by others

    def _renew(self, lease_id: str, custom: dict[str, Any]) -> None:
        self.session.retried(lambda client: client.remote_training_systems.update(lease_id, {"custom": custom}),
                             f"renewing the lock of stack {self.stack_name}")

    def _leases(self) -> list[Lease]:
        documents = self.reads.list("/ml/v4/remote_training_systems", f"reading the lock of stack {self.stack_name}",
                                    **{"tag.value": self.tag})
        return [Lease.of(document) for document in documents if self.tag in (document["metadata"].get("tags") or [])]

    def _delete(self, lease_id: str) -> None:
        # Gone already, or left behind (an error, a second Ctrl-C): the next runner gives it up (see the module docstring).
        with contextlib.suppress(ProviderError, Interrupted):
            self.session.retried(lambda client: client.remote_training_systems.delete(lease_id),
                                 f"releasing the lock of stack {self.stack_name}")


@cache
def this_machine() -> str:
    """This machine as a lease records it: host name, boot id and process namespace, where a pid means one process."""
    parts = [socket.gethostname()]
    with contextlib.suppress(OSError):
        parts.append(Path("/proc/sys/kernel/random/boot_id").read_text().strip())
        parts.append(str(os.stat("/proc/self/ns/pid").st_ino))
    return "/".join(parts)
