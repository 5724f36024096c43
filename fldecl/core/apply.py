"""Applying a plan: provider calls in dependency order, in parallel where the graph allows.

Each change becomes one or two steps (a replace is ``delete`` then ``create``, Terraform's
default). A step runs when the steps it needs have succeeded; a failed step skips everything that
depends on it and lets the rest finish. Transient provider errors are retried
(:mod:`fldecl.core.retry`). Ctrl-C (:mod:`fldecl.interrupt`) starts no new step and ends the
waits of the running ones; each is reported ``interrupted``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from graphlib import TopologicalSorter
from typing import Protocol

from fldecl.core.contract import ApplyOptions, CreateRequest, DeleteRequest, Desired, Observed, ProviderContext, ResourceType, UpdateRequest
from fldecl.core.errors import ProviderError, TransientError
from fldecl.core.graph import declared_graph, references
from fldecl.core.plain import ValueEnum
from fldecl.core.plan import CREATE, DELETE, UPDATE, Action, Plan, ResourceChange, build_desired, observed_graph
from fldecl.core.retry import RetryPolicy, with_retries
from fldecl.core.stack import Stack
from fldecl.interrupt import Interrupted, stop_requested

Step = tuple[Action, str]  # (operation, change key: the address, or address#id for a duplicate)


class Outcome(ValueEnum):
    """How a step ended. Equal to its value."""

    OK = "ok"
    FAILED = "failed"
    #: Not attempted: a step it needs did not succeed.
    SKIPPED = "skipped"
    #: Stopped by Ctrl-C or SIGTERM (:mod:`fldecl.interrupt`), or not started because of one.
    INTERRUPTED = "interrupted"


class ApplyListener(Protocol):
    """Told of each step as it runs: called from the worker threads, when the step really starts."""

    def step_started(self, step: Step) -> None: ...
    def step_retrying(self, step: Step, message: str, attempt: int, delay: float) -> None: ...
    def step_finished(self, step: Step, outcome: Outcome, message: str, seconds: float) -> None: ...


@dataclass
class StepResult:
    step: Step
    outcome: Outcome
    message: str = ""
    seconds: float = 0.0


@dataclass
class ApplyResult:
    results: list[StepResult] = field(default_factory=list)

    @property
    def failed(self) -> list[StepResult]:
        return [r for r in self.results if r.outcome is Outcome.FAILED]

    @property
    def skipped(self) -> list[StepResult]:
        return [r for r in self.results if r.outcome is Outcome.SKIPPED]

    def count(self, operation: str) -> int:
        return sum(1 for r in self.results if r.outcome is Outcome.OK and r.step[0] == operation)

    @property
    def summary(self) -> str:
        text = f"{self.count(CREATE)} created, {self.count(UPDATE)} updated, {self.count(DELETE)} deleted"
        if self.failed or self.skipped:
            text += f"; {len(self.failed)} failed, {len(self.skipped)} skipped"
        return text


class Applier:
    def __init__(self, stack: Stack, plan: Plan, resources: Mapping[str, ResourceType], ctx: ProviderContext,
                 listener: ApplyListener, options: ApplyOptions, retry: RetryPolicy | None = None) -> None:
        self.stack = stack
        self.plan = plan
        self.resources = resources
        self.ctx = ctx
        self.listener = listener
        self.options = options
        self.retry = retry or RetryPolicy()
        self.changes = {c.key: c for c in plan.changes if not c.is_noop}
        self.current: dict[str, Observed] = {c.address: c.current for c in plan.changes if c.current and not c.duplicate}
        self.lock = threading.Lock()
        self.graph = declared_graph(stack)

    def steps(self) -> dict[Step, set[Step]]:
        """Each step and the steps it must wait for."""
        graph: dict[Step, set[Step]] = {}
        declared = self.graph
        old = observed_graph([c.current for c in self.plan.changes if c.current])
        for address, change in self.changes.items():
            if DELETE in change.actions:
                graph[(DELETE, address)] = {(DELETE, d) for d in old.dependants(address)
                                            if d in self.changes and DELETE in self.changes[d].actions}
            build = CREATE if CREATE in change.actions else UPDATE if UPDATE in change.actions else None
            if build:
                needs = {(DELETE, address)} if DELETE in change.actions else set()
                for dep in declared.depends.get(address, ()):
                    dep_change = self.changes.get(dep)
                    if dep_change and dep_change.only is not DELETE:
                        needs.add((CREATE if CREATE in dep_change.actions else UPDATE, dep))
                graph[(build, address)] = needs
        return graph

    def run(self) -> ApplyResult:
        graph = self.steps()
        sorter = TopologicalSorter(graph)
        sorter.prepare()
        result = ApplyResult()
        failed: set[Step] = set()
        running: dict[Future[StepResult], Step] = {}
        pool = ThreadPoolExecutor(max_workers=max(1, self.options.parallelism))
        try:
            while sorter.is_active():
                for step in sorter.get_ready():
                    blocked = graph[step] & failed
                    if blocked:
                        failed.add(step)
                        cause = ", ".join(sorted(f"{op} {addr}" for op, addr in blocked))
                        skipped = StepResult(step, Outcome.SKIPPED, f"not attempted: {cause} did not succeed")
                        result.results.append(skipped)
                        self.listener.step_finished(step, Outcome.SKIPPED, skipped.message, 0.0)
                        sorter.done(step)
                        continue
                    running[pool.submit(self._run_step, step)] = step
                if not running:
                    continue
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    step = running.pop(future)
                    outcome = future.result()
                    result.results.append(outcome)
                    if outcome.outcome is not Outcome.OK:
                        failed.add(step)
                    sorter.done(step)
        finally:
            # On Ctrl-C (KeyboardInterrupt here) queued steps never start and running ones stop waiting.
            pool.shutdown(wait=True, cancel_futures=True)
        return result

    def _run_step(self, step: Step) -> StepResult:
        """One step in a worker thread, reported as it starts, retries and ends."""
        if stop_requested():
            return StepResult(step, Outcome.INTERRUPTED, "not started: interrupted")
        self.listener.step_started(step)
        outcome = self._attempt(step)
        self.listener.step_finished(step, outcome.outcome, outcome.message, outcome.seconds)
        return outcome

    def _attempt(self, step: Step) -> StepResult:
        started = time.monotonic()

        def retrying(error: TransientError, attempt: int, delay: float) -> None:
            self.listener.step_retrying(step, str(error), attempt, delay)

        try:
            message = with_retries(lambda: self._perform(step), self.retry, retrying)
            return StepResult(step, Outcome.OK, message, time.monotonic() - started)
        except Interrupted:
            return StepResult(step, Outcome.INTERRUPTED, "interrupted", time.monotonic() - started)
        except ProviderError as exc:
            return StepResult(step, Outcome.FAILED, str(exc), time.monotonic() - started)
        except Exception as exc:  # a provider bug must not kill the whole apply
            return StepResult(step, Outcome.FAILED, f"{type(exc).__name__}: {exc}", time.monotonic() - started)

    def _perform(self, step: Step) -> str:
        operation, address = step
        change = self.changes[address]
        resource_type = self.resources[change.kind]
        if operation == DELETE:
            return self._delete(change, resource_type)
        desired = self.desired(change)
        if operation == CREATE:
            made = resource_type.create(CreateRequest(desired), self.ctx)
        else:
            assert change.current is not None
            made = resource_type.update(UpdateRequest(change.current, desired, tuple(f.name for f in change.fields)), self.ctx)
        with self.lock:
            self.current[address] = made
        return f"id={made.id}"

    def _delete(self, change: ResourceChange, resource_type: ResourceType) -> str:
        current = change.current
        assert current is not None
        if self.ctx.owner_tag not in current.tags:
            raise ProviderError(f"{change.address} ({current.id}) does not carry the ownership tag {self.ctx.owner_tag}; "
                                "refusing to delete it")
        resource_type.delete(DeleteRequest(current, self.options.delete_key_files), self.ctx)
        with self.lock:
            if self.current.get(change.address) is current:
                del self.current[change.address]
        return f"id={current.id}"

    def desired(self, change: ResourceChange) -> Desired:
        with self.lock:
            current = dict(self.current)
        desired = build_desired(self.stack, change.address, current, self.graph)
        decl = self.stack.declarations[change.address]
        missing = [ref.target for ref in references(decl.kind, decl.name, decl.spec) if ref.target not in current]
        if missing:
            raise ProviderError(f"{', '.join(missing)} does not exist yet")
        return desired
