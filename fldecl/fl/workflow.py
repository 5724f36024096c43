"""The server side of a federated training, written once over a :class:`~fldecl.fl.transport.Transport`.

:class:`RoundWorkflow` runs a training from admission to the final models:

1. **Admission**: parties join until all declared ones did or ``max_timeout`` passed; the
   :class:`~fldecl.fl.roster.Roster` decides who may, and the training fails as soon as the quorum
   (or a required party) can no longer be met.
2. **Setup**: every party gets the training's settings (``configure``) and checks its model.
3. **Keys** (``crypto_iter_avg``): one party picked at random makes the CKKS keyring and seals it
   per party certificate; the workflow checks the bundle's party signature, keeps only the public
   context, and relays the sealed bundle to every party. It never holds a secret key.
4. **Rounds**: ``train`` to every live party, the updates that arrive within ``max_timeout``
   fused by the :class:`~fldecl.fl.fusion.Strategy`, ``evaluate`` with the fused model, and the
   round's metrics recorded.
5. **Finish**: the parties keep the final model; the workflow never decrypted it.

After every step the roster checks the quorum; a party that closes, stops with an error or sends
garbage is dropped and counts as not answering, so a dead party can make a step short of its quorum
but never hang it. Progress goes to ``status.json`` through a
:class:`~fldecl.fl.status.StatusWriter` (events, per-round records, the final state), which
``fldecl show`` and the metrics plot read.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fldecl.fl import protocol
from fldecl.fl.errors import FusionError, TrainingCanceled, TrainingFailed
from fldecl.fl.fusion import Strategy, make_strategy
from fldecl.fl.protocol import Message
from fldecl.fl.roster import QuorumMissed, Roster, Step, roster_of
from fldecl.fl.status import StatusWriter
from fldecl.fl.training_job import TrainingJob
from fldecl.fl.transport import AdmissionEvent, Joined, NoAnswer, Refused, Traffic, Transport
from fldecl.he.keyshare import KeyShareError, verified_public_context
from fldecl.vocabulary import CANCELED, COMPLETED, FAILED, RUNNING

METRICS_PLOT = "metrics.png"


class RoundWorkflow:
    """One training's server side. :meth:`run` drives it to its end; the outcome lands in ``status.json``.

    ``job`` supplies the training's settings (the transport's own fields, such as where to listen,
    are not read here); ``roster`` defaults to the job's declared parties and quorum.
    """

    def __init__(self, job: TrainingJob, transport: Transport, status: StatusWriter, roster: Roster | None = None) -> None:
        self.job = job
        self.transport = transport
        self.status = status
        self.roster = roster or roster_of(job)
        self.strategy: Strategy | None = None

    def run(self) -> str:
        """Run the training and return its final state; never raises for a failed or canceled training."""
        state, reason = COMPLETED, None
        try:
            self._admit()
            self.status.set_state(RUNNING)
            self._configure()
            self.strategy = self._setup_fusion()
            for round_number in range(1, self.job.rounds + 1):
                self._run_round(round_number, self.strategy)
            self._finish()
        except TrainingFailed as failure:
            state, reason = FAILED, str(failure)
            if isinstance(failure, QuorumMissed):
                self.status.update(failure=failure.to_dict())
            self._abort(reason)
        except TrainingCanceled:
            state, reason = CANCELED, "canceled by the user"
            self._abort("the training was canceled")
        finally:
            self.transport.close()
        # The plot comes before the final state: whoever follows status.json may stop us then.
        self._plot()
        self.status.set_state(state, reason)
        return state

    # -- admission and setup --------------------------------------------------------------------

    def _admit(self) -> None:
        """Admit parties until all declared ones joined or ``max_timeout`` passed, then check the quorum.

        A party that joined and then reports an error (its data handler raised, say) is dropped at
        once, and the training fails then if it can no longer meet its quorum or that party is required.
        """
        deadline = time.monotonic() + self.job.max_timeout
        while not self.roster.everyone_joined:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._note_admissions(self.transport.wait_for_parties(self.roster.admit, remaining))
            self.roster.check(self.roster.could_still_join(), Step.JOINING)
        self._note_admissions(self.transport.wait_for_parties(self.roster.admit, 0.0))
        self.roster.check(self.roster.alive_names(), Step.JOINED)

    def _note_admissions(self, events: list[AdmissionEvent]) -> None:
        for event in events:
            if isinstance(event, Joined):
                self.roster.joined(event.party, event.certificate_pem)
                self.status.event("party_joined", f"{event.party} joined from {event.origin}", party=event.party)
            elif isinstance(event, Refused):
                who = event.claimed_name or f"a connection from {event.origin}"
                self.status.event("party_refused", f"refused {who}: {event.reason}", reason=event.reason)
            else:
                self._no_answer(event)

    def _configure(self) -> None:
        """Give every party the training's settings; a party that cannot take them is dropped."""
        job = self.job
        settings = {
            "model_sha256": protocol.file_sha256(Path(job.model_zip)),
            "fusion_type": job.fusion_type,
            "cipher_spec": job.cipher_spec,
            "rounds": job.rounds,
            "max_timeout": job.max_timeout,
            "parties": job.party_names,
            "hyperparameters": {"epochs": job.epochs, "batch_size": job.batch_size, "seed": job.seed,
                                "optimizer": job.optimizer, "loss": job.loss, "metrics": job.metrics},
        }
        configured = self._ask_everyone(Message(protocol.CONFIGURE, settings), "did not accept the training's settings")
        self.roster.check(configured, Step.SETUP)

    # -- keys -----------------------------------------------------------------------------------

    def _setup_fusion(self) -> Strategy:
        """For crypto_iter_avg, have one party make the keys and relay them; else fuse in plaintext."""
        if not self.job.encrypted:
            return make_strategy(self.job.fusion_type, None)
        started = time.monotonic()
        generator = random.SystemRandom().choice(self.roster.alive_names())
        bundle = self._request_keys(generator)
        public_context = self._public_context(bundle, generator)
        accepted = self._ask_everyone(Message(protocol.KEYS, {}, [bundle]), "did not accept the training's keys in time")
        self.roster.check(accepted, Step.KEYS)
        self.status.update(key_distribution={"generator": generator, "bundle_bytes": len(bundle),
                                             "public_context_bytes": len(public_context),
                                             "seconds": round(time.monotonic() - started, 3)})
        self.status.event("keys_distributed", f"{generator} generated the keys; {len(accepted)} parties opened them", party=generator)
        return make_strategy(self.job.fusion_type, public_context)

    def _request_keys(self, generator: str) -> bytes:
        """Ask ``generator`` to make the keyring and seal it for the live parties' certificates."""
        self.status.event("keys_requested", f"asked {generator} to generate the training's keys", party=generator)
        task = Message(protocol.GENERATE_KEYS, {"party_certificates": self.roster.certificates()})
        replies = self._ask({generator: task})
        if generator not in replies:
            raise TrainingFailed(f"key generation by {generator} failed: {self.roster.absence(generator)}")
        return replies[generator].payloads[0]

    def _public_context(self, bundle: bytes, generator: str) -> bytes:
        """The context to add ciphertexts with, taken from the bundle once its party signature checks out."""
        try:
            return verified_public_context(bundle, self.job.training_id, Path(self.job.ca_cert_file).read_bytes(),
                                           set(self.job.party_names))
        except KeyShareError as error:
            raise TrainingFailed(f"the key bundle from {generator} is invalid: {error}") from error

    # -- rounds ---------------------------------------------------------------------------------

    def _run_round(self, round_number: int, strategy: Strategy) -> None:
        started = time.monotonic()
        before = {name: self.transport.traffic(name) for name in self.roster.alive_names()}
        self.status.event("round_started", f"round {round_number} of {self.job.rounds} started", round=round_number)
        updates = self._ask({name: Message(protocol.TRAIN, {"round": round_number}) for name in before})
        for name, update in updates.items():
            self.status.event("update_received", f"round {round_number}: update from {name}", round=round_number, party=name,
                              bytes=len(update.payloads[0]), metrics=update.fields.get("metrics", {}))
        self.roster.check(updates, Step.TRAINING, round_number)
        try:
            fused = strategy.fuse({name: update.payloads[0] for name, update in updates.items()})
        except FusionError as error:
            raise TrainingFailed(f"round {round_number} failed: {error}") from error
        self.status.event("round_fused", f"round {round_number}: fused {len(updates)} updates", round=round_number,
                          contributors=sorted(updates))
        evaluate = Message(protocol.EVALUATE, {"round": round_number, "contributors": sorted(updates)}, [fused])
        evaluations = self._ask(dict.fromkeys(self.roster.alive_names(), evaluate))
        self.roster.check(evaluations, Step.EVALUATION, round_number)  # parties that could not use the fused model
        traffic = {name: _difference(self.transport.traffic(name), counted) for name, counted in before.items()}
        record = round_record(round_number, updates, evaluations, traffic, time.monotonic() - started)
        self.status.add_round(record)
        self.status.event("round_completed", _describe_round(record), round=round_number, fused=record["fused"])

    def _finish(self) -> None:
        """Ask the parties to keep the final model: they decrypted it, the workflow never did."""
        finished = sorted(self._ask_everyone(Message(protocol.FINISH)))
        self.status.update(final_models=finished)
        self.status.event("final_models", f"{len(finished)} parties keep the final model: {', '.join(finished)}", parties=finished)

    # -- asking ---------------------------------------------------------------------------------

    def _ask(self, tasks: Mapping[str, Message]) -> dict[str, Message]:
        """The replies to ``tasks`` within ``max_timeout``; any other outcome than the expected reply is a party's absence."""
        replies = self.transport.ask(tasks, self.job.max_timeout)
        answered: dict[str, Message] = {}
        for name, task in tasks.items():
            expected = protocol.REPLIES[task.type]
            reply = replies.get(name) or NoAnswer(name, "did not answer", gone=False)
            if isinstance(reply, NoAnswer):
                self._no_answer(reply)
            elif reply.type != expected or not reply.has_expected_payloads():
                self._no_answer(NoAnswer(name, f"sent a {reply.type} with {len(reply.payloads)} payloads instead of {expected}",
                                         gone=True))
            else:
                answered[name] = reply
        return answered

    def _ask_everyone(self, task: Message, otherwise: str | None = None) -> dict[str, Message]:
        """Ask every live party; with ``otherwise``, those that do not answer are dropped with that reason."""
        answered = self._ask(dict.fromkeys(self.roster.alive_names(), task))
        if otherwise is not None:
            for name in self.roster.alive_names():
                if name not in answered:
                    self._drop(name, otherwise)
        return answered

    def _no_answer(self, absence: NoAnswer) -> None:
        """Record why a party did not answer; a party that is gone is dropped, with an event."""
        name = absence.party
        if not absence.gone:
            self.roster.missed(name, absence.reason)
        elif absence.party_error is not None:
            self._drop(name, f"stopped with an error ({absence.party_error})")
            self.status.event("party_error", f"{name} stopped: {absence.party_error}", party=name, reason=absence.party_error)
        else:
            self._drop(name, absence.reason)
            self.status.event("party_lost", f"{name} {absence.reason}", party=name, reason=absence.reason)

    def _drop(self, name: str, reason: str) -> None:
        self.roster.lose(name, reason)
        self.transport.drop(name)

    def _abort(self, reason: str) -> None:
        self.transport.tell(self.roster.alive_names(), Message(protocol.ABORT, {"reason": reason}))

    def _plot(self) -> None:
        if not self.status.document["rounds"]:
            return
        from fldecl.fl.plot import plot_metrics  # lazy: matplotlib only once there is a round to plot

        plot_metrics(self.job.name, self.status.document["rounds"], self.status.path.parent / METRICS_PLOT)


def round_record(round_number: int, updates: Mapping[str, Message], evaluations: Mapping[str, Message],
                 traffic: Mapping[str, Traffic], seconds: float) -> dict[str, Any]:
    """Per-party metrics of one round, and the fused model's metrics averaged over test points."""
    parties: dict[str, dict[str, Any]] = {}
    for name, counted in traffic.items():
        entry: dict[str, Any] = {"bytes_sent": counted.sent, "bytes_received": counted.received, "contributed": name in updates}
        if name in updates:
            entry.update(updates[name].fields.get("metrics", {}))
        if name in evaluations:
            entry.update({f"fused_{key}": value for key, value in evaluations[name].fields["metrics"].items()})
            entry["test_points"] = int(evaluations[name].fields.get("test_points", 0))
        parties[name] = entry
    return {"round": round_number, "seconds": round(seconds, 3), "contributors": sorted(updates), "parties": parties,
            "fused": _weighted_fused_metrics(evaluations)}


def _weighted_fused_metrics(evaluations: Mapping[str, Message]) -> dict[str, float]:
    totals: dict[str, float] = {}
    points = 0
    for message in evaluations.values():
        weight = int(message.fields.get("test_points", 0))
        points += weight
        for key, value in message.fields["metrics"].items():
            totals[key] = totals.get(key, 0.0) + float(value) * weight
    return {key: value / points for key, value in totals.items()} if points else {}


def _difference(now: Traffic, before: Traffic) -> Traffic:
    return Traffic(now.sent - before.sent, now.received - before.received)


def _describe_round(record: dict[str, Any]) -> str:
    metrics = ", ".join(f"{key} {value:.4f}" for key, value in sorted(record["fused"].items()))
    return f"round {record['round']} completed in {record['seconds']:.1f} s" + (f": fused model {metrics}" if metrics else "")
