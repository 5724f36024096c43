"""How a training moves: pending -> accepting_parties -> running -> completed (or failed).

By default a training is WML's: it accepts parties at once and its *runner*, the emulator's
aggregator, moves it to ``running`` when the quorum of its parties has registered, then fails or
completes it with what the parties did. Nothing completes a training that no party joined.

``simulated=True`` instead moves trainings on a clock through every state and hands them to a
runner at ``running``; the default simulated runner makes up its rounds. That mode exists for
tests of the client-facing API and says so on the command line (``--simulate-trainings``).
Tests can also force any state through the control endpoint, which stops the clock for that
training.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fldecl.emulator.documents import FederatedTraining
from fldecl.emulator.resources import now_iso
from fldecl.emulator.state import Document, Store

KIND = "training"
STATES = ("queued", "pending", "accepting_parties", "running", "storing",
          "completed", "failed", "canceled", "error")
TERMINAL_STATES = ("completed", "failed", "canceled", "error")


def federated_metrics(iteration: int, by_metric: dict[str, dict[str, float]]) -> dict[str, Any]:
    """One ``entity.status.metrics`` entry in the documented FL shape: per metric, each party's score of the fused model."""
    return {"iteration": iteration, "timestamp": now_iso(),
            "ml_federated_metrics": {metric: {"remote_training_systems": [{"id": party_id, "fused": value}
                                                                          for party_id, value in by_party.items()]}
                                     for metric, by_party in by_metric.items()}}


def round_metrics(iteration: int, metric: str, fused_by_party: dict[str, float]) -> dict[str, Any]:
    """:func:`federated_metrics` of one metric."""
    return federated_metrics(iteration, {metric: fused_by_party})


def simulated_metrics(training: Document, iteration: int) -> dict[str, Any]:
    """A plausible, deterministic learning curve: accuracy rising towards 0.9 over the rounds."""
    federated = FederatedTraining.of(training)
    value = round(0.5 + 0.4 * iteration / federated.rounds, 4)
    return round_metrics(iteration, federated.metrics, dict.fromkeys(federated.party_ids, value))


@dataclass
class TrainingRun:
    """What a runner gets: the training as created, a cancel signal, ways to report back (rounds, the
    final model, the move to ``running``, the parties' registrations) and read access to the
    emulator's other resources (``read_resource(kind, id)``, a model's ``read_content(id)``)."""

    training_id: str
    training: Document
    cancelled: threading.Event
    record_round: Callable[[dict[str, Any]], None]
    save_model: Callable[[bytes], None]
    read_resource: Callable[[str, str], Document | None]
    read_content: Callable[[str], bytes | None]
    start_running: Callable[[], None]
    record_party: Callable[[str, str], None]


TrainingRunner = Callable[[TrainingRun], None]
"""Runs one training to its end. Returning means completed; raising means failed with that message.
It should return soon after ``run.cancelled`` is set (cancel, forced state, server stop). A runner
started at ``accepting_parties`` calls ``run.start_running()`` once its parties are there and
``run.record_party(rts_id, event)`` as they come and go."""


@dataclass
class SimulatedTraining:
    """The default runner: ``seconds`` spread over the planned rounds, one metrics entry per round.
    ``seconds=None`` (manual clock) keeps the training running until a test forces its end."""

    seconds: float | None

    def __call__(self, run: TrainingRun) -> None:
        if self.seconds is None:
            run.cancelled.wait()
            return
        rounds = FederatedTraining.of(run.training).rounds
        for iteration in range(1, rounds + 1):
            if run.cancelled.wait(self.seconds / rounds):
                return
            run.record_round(simulated_metrics(run.training, iteration))


def _set_state(status: dict[str, Any], state: str, message: str | None, level: str = "info") -> None:
    status["state"] = state
    if message:
        status["message"] = {"level": level, "text": message}


def _complete(training: Document, metrics: list[dict[str, Any]] | None = None) -> None:
    status = training["entity"]["status"]
    if metrics is not None:
        status["metrics"] = metrics
    status.setdefault("metrics", [])
    status["iteration"] = max((entry.get("iteration", 0) for entry in status["metrics"]), default=0)
    status["completed_at"] = now_iso()
    _set_state(status, "completed", "The experiment is complete.")


def _fail(training: Document, state: str, message: str) -> None:
    status = training["entity"]["status"]
    status["completed_at"] = now_iso()
    status["failure"] = {"trace": training["metadata"]["id"], "errors": [{"code": "training_failed",
                                                                          "message": message}]}
    _set_state(status, state, message, level="error")


@dataclass
class TrainingLifecycle:
    """``simulated``: the clock moves every state and the runner starts at ``running``; otherwise the
    runner is the aggregator and starts at ``accepting_parties``. ``phase_seconds`` is the simulated
    clock's step (``None``: trainings wait for a forced state)."""

    store: Store
    runner: TrainingRunner
    phase_seconds: float | None
    simulated: bool = False
    aggregator_port: int = 0
    _active: dict[str, threading.Event] = field(default_factory=dict)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _wake: threading.Event = field(default_factory=threading.Event)
    _stopping: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        """Start the clock and resume trainings an earlier emulator process left running."""
        clock = threading.Thread(target=self._tick_forever, name="emulator-training-clock", daemon=True)
        self._threads.append(clock)
        clock.start()
        for training_id in self.store.ids_in_states(KIND, (self._launch_state,)):
            training = self.store.get(KIND, training_id)
            if training:
                self._launch(training)
        if not self.simulated:
            for training_id in self.store.ids_in_states(KIND, ("running",)):
                self._finish(training_id, "The aggregator stopped during the training: the emulator was restarted.")

    @property
    def _launch_state(self) -> str:
        return "running" if self.simulated else "accepting_parties"

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        with self._lock:
            for cancelled in self._active.values():
                cancelled.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def first_advance_at(self) -> float | None:
        """When a newly created training leaves ``pending``; ``None`` keeps it there (manual clock)."""
        if not self.simulated:
            return time.time()
        return None if self.phase_seconds is None else time.time() + self.phase_seconds

    def created(self) -> None:
        self._wake.set()

    def new_status(self) -> dict[str, Any]:
        return {"state": "pending", "message": {"level": "info", "text": "Training is pending."}}

    def cancel(self, training_id: str) -> None:
        with self._lock:
            cancelled = self._active.get(training_id)
        if cancelled:
            cancelled.set()

    def force(self, training_id: str, state: str, message: str | None = None,
              metrics: list[dict[str, Any]] | None = None) -> Document | None:
        """Put a training into ``state`` and pin it there; ``running`` starts the runner."""
        def change(training: Document) -> None:
            if state == "completed":
                _complete(training, metrics if metrics is not None else [
                    simulated_metrics(training, iteration) for iteration in range(1, FederatedTraining.of(training).rounds + 1)])
            elif state in ("failed", "error"):
                _fail(training, state, message or "The training failed.")
            else:
                self._enter(training, state, message)
            return

        training = self.store.update(KIND, training_id, change)
        if training is None:
            return None
        if state == self._launch_state:
            self._launch(training)
        else:
            self.cancel(training_id)
        return training

    def _enter(self, training: Document, state: str, message: str | None = None) -> None:
        status = training["entity"]["status"]
        if state == "accepting_parties":
            status["wait_for_quorum_at"] = now_iso()
            status["federated_learning_info"] = self._federated_learning_info(training)
        elif state == "running":
            status["running_at"] = now_iso()
            status["total_iterations"] = FederatedTraining.of(training).rounds
            status.setdefault("iteration", 0)
        default_messages = {"accepting_parties": "Waiting for remote training systems to join.",
                            "running": "The experiment is running.", "canceled": "The training was canceled."}
        _set_state(status, state, message or default_messages.get(state))

    def _federated_learning_info(self, training: Document) -> dict[str, Any]:
        training_id = training["metadata"]["id"]
        states: list[dict[str, Any]] = []
        for party_id in FederatedTraining.of(training).party_ids:
            party = self.store.get("remote_training_system", party_id)
            states.append({"id": party_id, "name": party["metadata"].get("name") if party else None,
                           "state": "pending", "registration_log": []})
        return {"aggregator": {"connection": {"endpoint": f"/ml/v4/trainings/{training_id}", "headers": {},
                                              "host": "127.0.0.1", "port": self.aggregator_port,
                                              "protocol": "wss"}},
                "remote_training_systems": {"states": states}}

    def _tick_forever(self) -> None:
        while not self._stopping.is_set():
            for training_id in self.store.due(KIND, time.time()):
                self._advance(training_id)
            next_due = self.store.next_due(KIND)
            timeout = 1.0 if next_due is None else min(1.0, max(0.0, next_due - time.time()))
            self._wake.wait(timeout)
            self._wake.clear()

    def _advance(self, training_id: str) -> None:
        def change(training: Document) -> float | None:
            if training["entity"]["status"]["state"] == "pending":
                self._enter(training, "accepting_parties")
                return self.first_advance_at() if self.simulated else None
            self._enter(training, "running")
            return None

        training = self.store.update(KIND, training_id, change)
        if training and training["entity"]["status"]["state"] == self._launch_state:
            self._launch(training)

    def _launch(self, training: Document) -> None:
        training_id = training["metadata"]["id"]
        with self._lock:
            if training_id in self._active or self._stopping.is_set():
                return
            cancelled = self._active[training_id] = threading.Event()
        run = TrainingRun(training_id, training, cancelled,
                          record_round=lambda entry: self._record_round(training_id, entry),
                          save_model=lambda content: self.store.put_content(f"{training_id}/model", content),
                          read_resource=self.store.get, read_content=self.store.content,
                          start_running=lambda: self._start_running(training_id),
                          record_party=lambda rts_id, event: self._record_party(training_id, rts_id, event))
        thread = threading.Thread(target=self._run, args=(run,), name=f"emulator-training-{training_id[:8]}",
                                  daemon=True)
        self._threads = [alive for alive in self._threads if alive.is_alive()] + [thread]
        thread.start()

    def _run(self, run: TrainingRun) -> None:
        failure: str | None = None
        try:
            self.runner(run)
        except Exception as error:  # a runner's failure is the training's failure, not the server's
            failure = str(error) or type(error).__name__
        finally:
            with self._lock:
                self._active.pop(run.training_id, None)
        if not self._stopping.is_set() and not run.cancelled.is_set():
            self._finish(run.training_id, failure)

    def _start_running(self, training_id: str) -> None:
        def change(training: Document) -> None:
            if training["entity"]["status"]["state"] == "accepting_parties":
                self._enter(training, "running")

        self.store.update(KIND, training_id, change)

    def _record_party(self, training_id: str, rts_id: str, event: str) -> None:
        """A party's ``registration_log`` event and state, in ``federated_learning_info`` as WML shows them."""
        def change(training: Document) -> None:
            info = training["entity"]["status"].get("federated_learning_info") or {}
            for state in (info.get("remote_training_systems") or {}).get("states", []):
                if state["id"] == rts_id:
                    state["state"] = event
                    state["registration_log"].append({"timestamp": now_iso(), "event": event})

        self.store.update(KIND, training_id, change)

    def _record_round(self, training_id: str, entry: dict[str, Any]) -> None:
        def change(training: Document) -> None:
            status = training["entity"]["status"]
            if status["state"] == "running":
                status.setdefault("metrics", []).append(entry)
                status["iteration"] = entry.get("iteration", status.get("iteration", 0))
            return

        self.store.update(KIND, training_id, change)

    def _finish(self, training_id: str, failure: str | None) -> None:
        def change(training: Document) -> None:
            state = training["entity"]["status"]["state"]
            if state != "running" and not (failure and state == "accepting_parties"):
                return
            if failure is None:
                _complete(training)
            else:
                _fail(training, "failed", failure)
            return

        self.store.update(KIND, training_id, change)
