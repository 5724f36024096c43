"""WML's aggregator for one training: registration, key distribution, rounds, the final model, STOP.

It is the emulator's :data:`~fldecl.emulator.lifecycle.TrainingRunner` for WML trainings, and
speaks IBM's party protocol to IBM's unmodified party runtime:

1. ``accepting_parties``: parties REGISTER over the websocket and get the model package. The
   training runs once the quorum of its listed parties, every ``required`` one among them, has
   registered; ``max_timeout`` seconds without that fail it.
2. ``crypto_iter_avg``: REQUEST_CERT from every party, GENERATE_KEYS at one party picked at
   random, SET_KEYS to the others (DISTRIBUTE_KEYS re-wraps the key for a party that joins
   later). The aggregator keeps the public context only.
3. Each round: TRAIN, the average of the updates (in plaintext or under HE), SYNC_MODEL with the
   fused model, EVAL_MODEL; each party's score of the fused model goes into the training's
   metrics. A round goes on with the parties that answered if they meet the quorum; a
   ``required`` party that does not answer fails the training.
4. After the last round the final model is stored (a party returns it decrypted under HE), and
   every party gets STOP. A cancel stops the parties too.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from fldecl.emulator.aggregator.channel import PartyChannel, PartyGone
from fldecl.emulator.aggregator.frames import Message, MessageType
from fldecl.emulator.aggregator.fusion import EncryptedFusion, FusionError, average_plain
from fldecl.emulator.aggregator.packages import CRYPTO_FUSION, PackageError, TrainingPlan, plan_training, with_final_weights
from fldecl.emulator.documents import FederatedTraining, StoredModel
from fldecl.emulator.lifecycle import TrainingRun, federated_metrics
from fldecl.errors import RuntimeFailure
from fldecl.quorum import quorum_size

DEFAULT_MAX_TIMEOUT_SECONDS = 600.0
#: After the last registration, time for the parties to load the model before the first request:
#: IBM's party checks every 10 s whether it has, so a request that comes too early costs 10 s
#: (measured: 3 s was too early for the seed's MLP on two cores, 6 s is enough).
PARTY_SETUP_SECONDS = 6.0
POLL_SECONDS = 0.2
STOP_ACK_SECONDS = 5.0
#: Ended trainings whose traffic and public context the aggregator keeps (a public context is about 9 MB).
KEPT_TRAININGS = 8
METRIC_NAMES = {"acc": "accuracy", "accuracy_score": "accuracy"}


class TrainingFailed(RuntimeFailure):
    """The training fails with this message, in WML's words."""


class Cancelled(RuntimeFailure):
    """The training was cancelled (or the emulator is stopping): stop the parties and return."""


@dataclass
class RoundTraffic:
    """Seconds and bytes per party of one phase (``keys`` or a round number), for the benchmarks."""

    phase: str
    seconds: float
    bytes_sent: dict[str, int] = field(default_factory=dict)
    bytes_received: dict[str, int] = field(default_factory=dict)


class FederatedSession:
    def __init__(self, run: TrainingRun) -> None:
        self.run = run
        self.federated = FederatedTraining.of(run.training)
        self.max_timeout = float(self.federated.max_timeout or DEFAULT_MAX_TIMEOUT_SECONDS)
        self.names = {party.id: self._name(party.id) for party in self.federated.parties}
        self.traffic: list[RoundTraffic] = []
        self.public_context: bytes | None = None
        self._channels: dict[str, PartyChannel] = {}
        self._joined = threading.Condition()
        self._keyed: set[str] = set()
        self._key_holder: str | None = None
        self._plan: TrainingPlan | None = None
        self._fusion: EncryptedFusion | None = None
        self._content = b""

    # Called from the websocket threads.

    def expects(self, rts_id: str) -> bool:
        return rts_id in self.names

    def on_message(self, channel: PartyChannel, message: Message) -> None:
        """A REGISTER gets the model package. Runtime 23.1 (ibm-watson-machine-learning) and 24.1 (ibm-watsonx-ai)
        register alike: only the name of their client's version field differs (``VERSION``, ``WATSONX_AI_VERSION``),
        and nothing here reads it, so parties of both runtimes join one training."""
        if message.message_type != MessageType.REGISTER:
            return
        with self._joined:
            plan = self._plan
        if plan is None:
            channel.send(Message(MessageType.REGISTER, message.id_request,
                                 {"status": "error", "detail": "The training is not accepting parties."}))
            return
        channel.send(Message(MessageType.REGISTER, message.id_request, plan.register_reply))
        with self._joined:
            previous = self._channels.get(channel.rts_id)
            self._channels[channel.rts_id] = channel
            self._keyed.discard(channel.rts_id)
            self._joined.notify_all()
        if previous is not None and previous is not channel:
            previous.close()
        self.run.record_party(channel.rts_id, "register")

    # The training, in the lifecycle's runner thread.

    def train(self) -> None:
        try:
            self._plan_from_store()
            parties = self._wait_for_quorum()
            self.run.start_running()
            if self.federated.fusion_type == CRYPTO_FUSION:
                self._distribute_keys(parties)
            final_weights = None
            for iteration in range(1, self.federated.rounds + 1):
                final_weights = self._round(iteration, last=iteration == self.federated.rounds)
            self.run.save_model(with_final_weights(self._content, final_weights or []))
        except Cancelled:
            return
        finally:
            self._stop_parties()

    def _plan_from_store(self) -> None:
        model_id = self.federated.model_id or ""
        model, content = self.run.read_resource("model", model_id), self.run.read_content(model_id)
        if model is None or content is None:
            raise TrainingFailed(f"The initial model {model_id} does not exist or has no content.")
        try:
            plan = plan_training(self.federated, StoredModel.of(model), content)
        except PackageError as error:
            raise TrainingFailed(str(error)) from error
        with self._joined:
            self._plan, self._content = plan, content

    def _wait_for_quorum(self) -> list[str]:
        required = {party.id for party in self.federated.parties if party.required}
        needed = quorum_size(self.federated.quorum or 1.0, len(self.names))
        deadline = time.monotonic() + self.max_timeout
        with self._joined:
            while True:
                joined = set(self._connected())
                if required <= joined and len(joined) >= needed:
                    break
                if self.run.cancelled.is_set():
                    raise Cancelled
                if time.monotonic() >= deadline:
                    raise TrainingFailed(self._timeout_message(required - joined, needed, len(joined)))
                self._joined.wait(POLL_SECONDS)
        self._sleep(PARTY_SETUP_SECONDS)
        return sorted(self._connected())

    def _timeout_message(self, missing_required: set[str], needed: int, joined: int) -> str:
        waited = f"within max_timeout ({self.max_timeout:g} s)"
        if missing_required:
            return (f"Required remote training system(s) {self._named(missing_required)} did not register {waited}; "
                    "the training is stopped.")
        return f"The quorum was not reached {waited}: {joined} of {needed} needed remote training systems registered."

    def _distribute_keys(self, parties: list[str]) -> None:
        started, before = time.monotonic(), self._bytes()
        certificates = self._ask(MessageType.REQUEST_CERT, {party: {"id": party} for party in parties}, "REQUEST_CERT")
        generator = random.choice(sorted(certificates))
        keys = self._ask(MessageType.GENERATE_KEYS, {generator: {"party_certs": {p: c["cert"] for p, c in certificates.items()}}},
                         "GENERATE_KEYS")[generator]
        self._accept_public_context(keys["he_pb"])
        self._key_holder = generator
        self._keyed = {generator}
        self._set_keys(keys, [party for party in certificates if party != generator])
        self.traffic.append(self._traffic("keys", started, before))

    def _accept_public_context(self, public_context: bytes) -> None:
        try:
            self._fusion = EncryptedFusion(public_context)
        except FusionError as error:
            raise TrainingFailed(str(error)) from error
        self.public_context = public_context

    def _set_keys(self, keys: dict[str, Any], parties: Iterable[str]) -> None:
        """SET_KEYS to each of ``parties`` with the key bundle and its own wrapped share of the symmetric key."""
        parties = list(parties)
        if not parties:
            return
        fields = ("gen_cert", "keys_id", "keys_time", "he_pb", "he_pb_sign", "he_pr_enc", "he_pr_enc_sign")
        missing = [name for name in fields if name not in keys]
        if missing:
            raise TrainingFailed(f"The key distribution message lacks {', '.join(missing)}.")
        shared = {name: keys[name] for name in fields}
        requests = {}
        for party in parties:
            wrapped = (keys.get("party_sym") or {}).get(party)
            if wrapped is None:
                continue
            requests[party] = {**shared, "sym_enc": wrapped[0], "sym_enc_sign": wrapped[1]}
        self._keyed |= set(self._ask(MessageType.SET_KEYS, requests, "SET_KEYS"))

    def _admit_late_joiners(self) -> None:
        """Parties that registered after the keys were made get them re-wrapped by a party that has them."""
        newcomers = [party for party in self._connected() if party not in self._keyed]
        holders = [party for party in self._connected() if party in self._keyed]
        if not newcomers or not holders:
            return
        certificates = self._ask(MessageType.REQUEST_CERT, {party: {"id": party} for party in newcomers}, "REQUEST_CERT")
        holder = self._key_holder if self._key_holder in holders else holders[0]
        keys = self._ask(MessageType.DISTRIBUTE_KEYS, {holder: {"party_certs": {p: c["cert"] for p, c in certificates.items()}}},
                         "DISTRIBUTE_KEYS").get(holder)
        if keys is not None:
            self._set_keys(keys, certificates)

    def _round(self, iteration: int, last: bool) -> list[Any]:
        plan = self._require_plan()
        encrypted = self.federated.fusion_type == CRYPTO_FUSION
        if encrypted:
            self._admit_late_joiners()
        started, before = time.monotonic(), self._bytes()
        parties = [party for party in self._connected() if not encrypted or party in self._keyed]
        # After a SYNC_MODEL the parties hold the fused model, so a TRAIN carries no model of its own.
        payload = {"hyperparams": plan.hyperparams, "model_update": None, "num_parties": len(parties)}
        updates = self._ask(MessageType.TRAIN, dict.fromkeys(parties, payload), f"TRAIN of round {iteration}", quorum=True)
        try:
            fused = self._fusion.average(list(updates.values())) if self._fusion else average_plain(list(updates.values()))
        except FusionError as error:
            raise TrainingFailed(f"Round {iteration}: {error}") from error
        sync: dict[str, Any] = {"model_update": fused}
        returner = sorted(updates)[0]
        if encrypted and last:
            sync["model_return_party_ids"] = [returner]
        synced = self._ask(MessageType.SYNC_MODEL, dict.fromkeys(updates, sync), f"SYNC_MODEL of round {iteration}", quorum=True)
        scores = self._ask(MessageType.EVAL_MODEL, dict.fromkeys(synced), f"EVAL_MODEL of round {iteration}", quorum=True)
        self.run.record_round(federated_metrics(iteration, _by_metric(scores)))
        self.traffic.append(self._traffic(str(iteration), started, before))
        if not encrypted:
            return list(fused["weights"])
        returned = (synced.get(returner) or {}).get("model_return") if isinstance(synced.get(returner), dict) else None
        if last and not returned:
            raise TrainingFailed(f"{self.names.get(returner, returner)} did not return the final model it decrypted.")
        return list((returned or {}).get("weights") or [])

    def _ask(self, message_type: MessageType, payloads: dict[str, Any], what: str, quorum: bool = False) -> dict[str, Any]:
        """Send each party its request and wait (up to ``max_timeout``) for the answers; who did not answer is
        dropped, unless that breaks a ``required`` party or, with ``quorum``, the training's quorum."""
        futures: dict[str, Future[Any]] = {}
        for party, payload in payloads.items():
            channel = self._channels.get(party)
            if channel is not None:
                futures[party] = channel.request(message_type, payload)
        deadline = time.monotonic() + self.max_timeout
        answers: dict[str, Any] = {}
        failures: dict[str, str] = {}
        for party, future in futures.items():
            while party not in answers and party not in failures:
                if self.run.cancelled.is_set():
                    raise Cancelled
                try:
                    answers[party] = future.result(timeout=min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))
                except FutureTimeout:
                    if time.monotonic() >= deadline:
                        failures[party] = f"no answer within max_timeout ({self.max_timeout:g} s)"
                except PartyGone as error:
                    failures[party] = str(error)
        failures.update({party: "not connected" for party in payloads if party not in futures})
        self._check_answers(what, answers, failures, quorum)
        return answers

    def _check_answers(self, what: str, answers: dict[str, Any], failures: dict[str, str], quorum: bool) -> None:
        required = {party.id for party in self.federated.parties if party.required}
        for party, reason in failures.items():
            if party in required:
                raise TrainingFailed(f"Required remote training system {self.names.get(party, party)} failed in {what}: {reason}")
        needed = quorum_size(self.federated.quorum or 1.0, len(self.names)) if quorum else 1
        if len(answers) < needed:
            reasons = "; ".join(f"{self.names.get(party, party)}: {reason}" for party, reason in failures.items())
            raise TrainingFailed(f"The quorum was not met in {what}: {len(answers)} of {needed} needed parties answered ({reasons}).")

    def _stop_parties(self) -> None:
        """STOP every party; each answers with an ACK and leaves, and its leaving is what is waited for."""
        channels = list(self._channels.values())
        for channel in channels:
            channel.request(MessageType.STOP, None)
        deadline = time.monotonic() + STOP_ACK_SECONDS
        for channel in channels:
            channel.closed.wait(max(0.0, deadline - time.monotonic()))
            channel.close()

    def _connected(self) -> list[str]:
        return [party for party, channel in self._channels.items() if not channel.closed.is_set()]

    def _require_plan(self) -> TrainingPlan:
        if self._plan is None:
            raise TrainingFailed("The training has no plan.")
        return self._plan

    def _sleep(self, seconds: float) -> None:
        if self.run.cancelled.wait(seconds):
            raise Cancelled

    def _bytes(self) -> dict[str, tuple[int, int]]:
        return {party: (channel.bytes_sent, channel.bytes_received) for party, channel in self._channels.items()}

    def _traffic(self, phase: str, started: float, before: dict[str, tuple[int, int]]) -> RoundTraffic:
        traffic = RoundTraffic(phase, time.monotonic() - started)
        for party, (sent, received) in self._bytes().items():
            sent_before, received_before = before.get(party, (0, 0))
            traffic.bytes_sent[self.names.get(party, party)] = sent - sent_before
            traffic.bytes_received[self.names.get(party, party)] = received - received_before
        return traffic

    def _name(self, rts_id: str) -> str:
        document = self.run.read_resource("remote_training_system", rts_id)
        return str((document or {}).get("metadata", {}).get("name") or rts_id)

    def _named(self, parties: Iterable[str]) -> str:
        return ", ".join(sorted(self.names.get(party, party) for party in parties))


def _by_metric(scores: dict[str, Any]) -> dict[str, dict[str, float]]:
    """``{metric: {rts_id: value}}`` from each party's EVAL_MODEL answer, numbers only, WML's metric names."""
    by_metric: dict[str, dict[str, float]] = {}
    for party, metrics in scores.items():
        for name, value in (metrics or {}).items() if isinstance(metrics, dict) else ():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                key = METRIC_NAMES.get(name, str(name).lower().replace(" ", "_"))
                by_metric.setdefault(key, {})[party] = float(value)
    return by_metric


class Aggregator:
    """The runner of WML trainings, and where the websocket endpoint finds a training's session.

    For the last :data:`KEPT_TRAININGS` ended trainings it keeps ``traffic`` (per-phase seconds and
    bytes, for benchmarks) and ``public_contexts`` (all it held of the HE keys, for tests).
    """

    def __init__(self) -> None:
        self._sessions: dict[str, FederatedSession] = {}
        self._lock = threading.Lock()
        self.traffic: OrderedDict[str, list[RoundTraffic]] = OrderedDict()
        self.public_contexts: OrderedDict[str, bytes] = OrderedDict()

    def __call__(self, run: TrainingRun) -> None:
        session = FederatedSession(run)
        with self._lock:
            self._sessions[run.training_id] = session
        try:
            session.train()
        finally:
            with self._lock:
                self._sessions.pop(run.training_id, None)
                self.traffic[run.training_id] = session.traffic
                if session.public_context is not None:
                    self.public_contexts[run.training_id] = session.public_context
                for kept in (self.traffic, self.public_contexts):
                    while len(kept) > KEPT_TRAININGS:
                        kept.popitem(last=False)

    def session(self, training_id: str) -> FederatedSession | None:
        with self._lock:
            return self._sessions.get(training_id)
