"""The aggregator: admits the declared parties over mutual TLS, relays keys, fuses updates.

Run as ``python -m fldecl.fl.aggregator JOB.json``. It never holds a secret key: for
``crypto_iter_avg`` it keeps the parties' public context, adds their ciphertexts and sends the
encrypted sum back; the parties decrypt, evaluate and keep the final model. Every wait has a
deadline (``max_timeout``) and a closed connection counts as "no answer", so a dead party can
only make a round short of its quorum, never hang it.
"""

from __future__ import annotations

import random
import select
import signal
import socket
import ssl
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from fldecl.fl import protocol
from fldecl.fl.errors import TrainingCanceled, TrainingFailed
from fldecl.fl.fusion import FusionError, Strategy, make_strategy
from fldecl.fl.job import TrainingJob
from fldecl.fl.status import StatusWriter
from fldecl.fl.wire import Connection, ConnectionClosed, Message, WireError
from fldecl.he.keyshare import KeyShareError, verified_public_context
from fldecl.pki.tls import server_ssl_context
from fldecl.vocabulary import CANCELED, COMPLETED, FAILED, RUNNING

METRICS_PLOT = "metrics.png"
_ABORT_TIMEOUT = 5.0




@dataclass
class PartySession:
    """A connected party, recognised by the fingerprint of its certificate."""

    name: str
    required: bool
    connection: Connection
    certificate_pem: str
    alive: bool = True
    failure: str | None = None

    def drop(self, reason: str) -> None:
        """Stop talking to this party; ``reason`` explains its absence in later messages."""
        self.alive = False
        self.failure = self.failure or reason
        self.connection.close()


class Aggregator:
    """One training's aggregator. :meth:`bind` then :meth:`serve`; the outcome lands in ``status.json``."""

    def __init__(self, job: TrainingJob, log: TextIO | None = None) -> None:
        """``log``: where each event is written as a line too (the process's ``aggregator.log``)."""
        self.job = job
        self.work_dir = Path(job.work_dir)
        self.status = StatusWriter(self.work_dir, job.training_id, job.rounds, log)
        self.declared = {protocol.file_fingerprint(Path(party["cert_file"])): party for party in job.parties}
        self.sessions: dict[str, PartySession] = {}
        self.strategy: Strategy | None = None
        self.listener: socket.socket | None = None
        self.ssl_context: ssl.SSLContext | None = None

    def bind(self) -> tuple[str, int]:
        """Listen on the job's host and port (0 picks a free port) and publish the address."""
        job = self.job
        self.ssl_context = server_ssl_context(Path(job.aggregator_cert_file), Path(job.aggregator_key_file), Path(job.ca_cert_file))
        self.listener = socket.create_server((job.host, job.port))
        _host, port = self.listener.getsockname()[:2]
        self.status.update(aggregator={"host": job.host, "port": port})
        self.status.event("listening", f"aggregator listening on {job.host}:{port}", host=job.host, port=port)
        return job.host, port

    def serve(self) -> str:
        """Run the training to its end and return the final state; never raises for a failed training."""
        if self.listener is None:
            self.bind()
        state, reason = COMPLETED, None
        try:
            self._admit_parties()
            self.status.set_state(RUNNING)
            self._setup_fusion()
            for round_number in range(1, self.job.rounds + 1):
                self._run_round(round_number)
            self._finish()
        except TrainingFailed as failure:
            state, reason = FAILED, str(failure)
            self._abort(reason)
        except TrainingCanceled:
            state, reason = CANCELED, "canceled by the user"
            self._abort("the training was canceled")
        finally:
            self.listener.close()
            for session in self.sessions.values():
                session.connection.close()
        # The plot comes before the final state: whoever follows status.json may stop us then.
        self._plot()
        self.status.set_state(state, reason)
        return state

    # -- admission ----------------------------------------------------------------------------

    def _admit_parties(self) -> None:
        """Accept parties until all declared ones joined or ``max_timeout`` passed, then check quorum.

        A party that joined and then reports an error (its data handler raised, say) is dropped at
        once, and the training fails then if it can no longer meet its quorum or that party is required.
        """
        deadline = time.monotonic() + self.job.max_timeout
        while len(self.sessions) < len(self.job.parties):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            readable, _, _ = select.select([self.listener] + [session.connection.sock for session in self._alive()], [], [], remaining)
            if self.listener in readable:
                self._admit_one()
            self._hear_joined(deadline, timeout=0.0)
            still_possible = {name for name in self.job.party_names if name not in self.sessions or self.sessions[name].alive}
            self._check_quorum(still_possible, "joining", "can still join")
        self._hear_joined(deadline, timeout=0.0)
        self._check_quorum({name for name, session in self.sessions.items() if session.alive}, "joining", "joined")

    def _hear_joined(self, deadline: float, timeout: float) -> None:
        """Read what joined parties sent before the training started: only an error is expected (and drops the party)."""
        for session in self._ready(self._alive(), timeout) if self._alive() else []:
            if self._receive_from(session, deadline) is not None:
                session.drop("spoke before the training started")

    def _admit_one(self) -> None:
        raw, address = self.listener.accept()
        origin = f"{address[0]}:{address[1]}"
        raw.settimeout(protocol.HANDSHAKE_TIMEOUT)
        try:
            tls = self.ssl_context.wrap_socket(raw, server_side=True)
        except ssl.SSLCertVerificationError as error:
            raw.close()
            self.status.event("party_refused", f"refused a connection from {origin}: its certificate {error.verify_message}")
            return
        except (ssl.SSLError, OSError) as error:
            raw.close()
            self.status.event("party_refused", f"refused a connection from {origin}: TLS handshake failed ({error})")
            return
        connection = Connection(tls)
        try:
            hello = connection.receive(protocol.HANDSHAKE_TIMEOUT)
        except (WireError, TimeoutError, OSError) as error:
            connection.close()
            self.status.event("party_refused", f"dropped a connection from {origin} that sent no hello ({error})")
            return
        declared = self.declared.get(protocol.certificate_fingerprint(tls.getpeercert(binary_form=True)))
        refusal = self._refusal(hello, declared)
        if refusal:
            self._send(connection, Message(protocol.REFUSED, {"reason": refusal}))
            connection.close()
            self.status.event("party_refused", f"refused {hello.fields.get('party', origin)}: {refusal}")
            return
        name = declared["name"]
        self._send(connection, Message(protocol.WELCOME, self._welcome_fields()))
        pem = ssl.DER_cert_to_PEM_cert(tls.getpeercert(binary_form=True))
        self.sessions[name] = PartySession(name, bool(declared.get("required", False)), connection, pem)
        self.status.event("party_joined", f"{name} joined from {origin}", party=name)

    def _refusal(self, hello: Message, declared: dict[str, Any] | None) -> str | None:
        claimed = hello.fields.get("party")
        if hello.type != protocol.HELLO:
            return f"expected hello, got {hello.type!r}"
        if hello.fields.get("training_id") != self.job.training_id:
            return f"this aggregator runs training {self.job.training_id!r}, not {hello.fields.get('training_id')!r}"
        if declared is None:
            return f"its certificate is not the certificate of any party of training {self.job.name!r}"
        if claimed != declared["name"]:
            return f"it presented {declared['name']}'s certificate but calls itself {claimed!r}"
        if declared["name"] in self.sessions and self.sessions[declared["name"]].alive:
            return f"{claimed} has already joined"
        return None

    def _welcome_fields(self) -> dict[str, Any]:
        job = self.job
        return {
            "model_sha256": protocol.file_sha256(Path(job.model_zip)),
            "fusion_type": job.fusion_type,
            "cipher_spec": job.cipher_spec,
            "rounds": job.rounds,
            "max_timeout": job.max_timeout,
            "parties": job.party_names,
            "hyperparameters": {
                "epochs": job.epochs,
                "batch_size": job.batch_size,
                "seed": job.seed,
                "optimizer": job.optimizer,
                "loss": job.loss,
                "metrics": job.metrics,
            },
        }

    # -- keys ---------------------------------------------------------------------------------

    def _setup_fusion(self) -> None:
        """For crypto_iter_avg, have one party make the keys and relay them; else fuse in plaintext."""
        if not self.job.encrypted:
            self.strategy = make_strategy(self.job.fusion_type, None)
            return
        started = time.monotonic()
        generator = random.SystemRandom().choice(self._alive())
        bundle = self._request_keys(generator)
        public_context = self._public_context(bundle, generator)
        self.strategy = make_strategy(self.job.fusion_type, public_context)
        sessions = self._alive()
        for session in sessions:
            self._send_to(session, Message(protocol.KEYS, {}, [bundle]))
        accepted = self._collect(sessions, protocol.KEYS_ACCEPTED, None)
        for session in sessions:
            if session.name not in accepted and session.alive:
                session.drop("did not accept the training's keys in time")
        self._check_quorum(set(accepted), "key distribution")
        self.status.update(
            key_distribution={
                "generator": generator.name,
                "bundle_bytes": len(bundle),
                "public_context_bytes": len(public_context),
                "seconds": round(time.monotonic() - started, 3),
            }
        )
        self.status.event("keys_distributed", f"{generator.name} generated the keys; {len(accepted)} parties opened them",
                          party=generator.name)

    def _request_keys(self, generator: PartySession) -> bytes:
        """Ask ``generator`` to make the keyring and seal it for the parties whose certificates we saw."""
        certificates = {session.name: session.certificate_pem for session in self._alive()}
        self.status.event("keys_requested", f"asked {generator.name} to generate the training's keys", party=generator.name)
        self._send_to(generator, Message(protocol.GENERATE_KEYS, {"party_certificates": certificates}))
        replies = self._collect([generator], protocol.KEYS_GENERATED, None, payloads=1)
        if generator.name not in replies:
            raise TrainingFailed(f"key generation by {generator.name} failed: {self._absence(generator.name)}")
        return replies[generator.name].payloads[0]

    def _public_context(self, bundle: bytes, generator: PartySession) -> bytes:
        """The context to add ciphertexts with, taken from the bundle once its party signature checks out."""
        try:
            return verified_public_context(
                bundle, self.job.training_id, Path(self.job.ca_cert_file).read_bytes(), set(self.job.party_names)
            )
        except KeyShareError as error:
            raise TrainingFailed(f"the key bundle from {generator.name} is invalid: {error}") from error

    # -- rounds -------------------------------------------------------------------------------

    def _run_round(self, round_number: int) -> None:
        started = time.monotonic()
        sessions = self._alive()
        counters = {session.name: (session.connection.bytes_received, session.connection.bytes_sent) for session in sessions}
        self.status.event("round_started", f"round {round_number} of {self.job.rounds} started", round=round_number)
        for session in sessions:
            self._send_to(session, Message(protocol.TRAIN, {"round": round_number}))
        updates = self._collect_updates(sessions, round_number)
        self._check_quorum(set(updates), f"round {round_number}")
        try:
            fused = self.strategy.fuse({name: message.payloads[0] for name, message in updates.items()})
        except FusionError as error:
            raise TrainingFailed(f"round {round_number} failed: {error}") from error
        self.status.event("round_fused", f"round {round_number}: fused {len(updates)} updates", round=round_number,
                          contributors=sorted(updates))
        evaluated_by = self._alive()
        for session in evaluated_by:
            self._send_to(session, Message(protocol.EVALUATE, {"round": round_number, "contributors": sorted(updates)}, [fused]))
        evaluations = self._collect(evaluated_by, protocol.EVALUATION, round_number)
        self._check_quorum(set(evaluations), f"round {round_number} failed")  # parties that could not use the fused model
        record = _round_record(round_number, updates, evaluations, counters, self.sessions, time.monotonic() - started)
        self.status.add_round(record)
        self.status.event("round_completed", _describe_round(record), round=round_number, fused=record["fused"])

    def _collect_updates(self, sessions: list[PartySession], round_number: int) -> dict[str, Message]:
        """The round's updates, by party: those that arrived within ``max_timeout``."""
        updates = self._collect(sessions, protocol.UPDATE, round_number, payloads=1)
        for name, message in updates.items():
            self.status.event(
                "update_received", f"round {round_number}: update from {name}", round=round_number, party=name,
                bytes=len(message.payloads[0]), metrics=message.fields.get("metrics", {}),
            )
        return updates

    def _finish(self) -> None:
        """Ask the parties to keep the final model: they decrypted it, the aggregator never did."""
        sessions = self._alive()
        for session in sessions:
            self._send_to(session, Message(protocol.FINISH))
        finished = self._collect(sessions, protocol.FINISHED, None)
        self.status.update(final_models=sorted(finished))
        self.status.event("final_models", f"{len(finished)} parties keep the final model: {', '.join(sorted(finished))}",
                          parties=sorted(finished))

    # -- waiting for parties --------------------------------------------------------------------

    def _collect(self, sessions: list[PartySession], kind: str, round_number: int | None, payloads: int = 0) -> dict[str, Message]:
        """Wait up to ``max_timeout`` for a ``kind`` message from each live session.

        Messages of an earlier round (a late party's update) are skipped. A party that reports an
        error, closes its connection or sends garbage is dropped: it counts as not answering.
        """
        deadline = time.monotonic() + self.job.max_timeout
        waiting = {session.name: session for session in sessions if session.alive}
        replies: dict[str, Message] = {}
        while waiting:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            for session in self._ready(list(waiting.values()), remaining):
                message = self._receive_from(session, deadline)
                if message is None:
                    waiting.pop(session.name)
                elif message.type == kind and message.fields.get("round") == round_number:
                    if len(message.payloads) != payloads:
                        session.drop(f"sent a {kind} with {len(message.payloads)} payloads instead of {payloads}")
                    else:
                        replies[session.name] = message
                    waiting.pop(session.name)
        for name in waiting:
            self.sessions[name].failure = self.sessions[name].failure or f"did not answer within {self.job.max_timeout:g} s"
        return replies

    def _ready(self, sessions: list[PartySession], timeout: float) -> list[PartySession]:
        buffered = [session for session in sessions if session.connection.has_buffered_data()]
        if buffered:
            return buffered
        readable, _, _ = select.select([session.connection.sock for session in sessions], [], [], timeout)
        return [session for session in sessions if session.connection.sock in readable]

    def _receive_from(self, session: PartySession, deadline: float) -> Message | None:
        """One message, or None when the party is gone (it is then dropped, with the reason)."""
        try:
            message = session.connection.receive(max(deadline - time.monotonic(), 1.0))
        except (ConnectionClosed, ssl.SSLError, OSError):
            self._lose(session, "closed its connection")
            return None
        except TimeoutError:
            self._lose(session, "stopped sending mid-message")
            return None
        except WireError as error:
            self._lose(session, f"sent an invalid frame ({error})")
            return None
        if message.type == protocol.ERROR:
            self._stopped(session, str(message.fields.get("reason", "no reason given")))
            return None
        return message

    def _lose(self, session: PartySession, reason: str) -> None:
        """Drop a party that went away; an error it sent before closing is its reason, not the closing."""
        last_words = self._last_words(session)
        if last_words is not None:
            self._stopped(session, last_words)
            return
        session.drop(reason)
        self.status.event("party_lost", f"{session.name} {reason}", party=session.name, reason=reason)

    def _last_words(self, session: PartySession) -> str | None:
        """The reason in an error frame still waiting to be read from a connection that closed, if any."""
        try:
            message = session.connection.receive(0.5)
        except (WireError, TimeoutError, OSError, ssl.SSLError):
            return None
        return str(message.fields.get("reason", "no reason given")) if message.type == protocol.ERROR else None

    def _stopped(self, session: PartySession, reason: str) -> None:
        session.drop(f"stopped with an error ({reason})")
        self.status.event("party_error", f"{session.name} stopped: {reason}", party=session.name, reason=reason)

    def _check_quorum(self, answered: set[str], step: str, verb: str = "answered") -> None:
        """Fail unless every required party and at least ceil(quorum * n) parties answered."""
        job = self.job
        for name in job.required_parties:
            if name not in answered:
                raise TrainingFailed(f"{step}: required party {name} {self._absence(name)}")
        if len(answered) < job.quorum_size:
            missing = "; ".join(f"{name} {self._absence(name)}" for name in job.party_names if name not in answered)
            raise TrainingFailed(
                f"{step}: {len(answered)} of {len(job.parties)} parties {verb}, quorum {job.quorum:g} needs {job.quorum_size} ({missing})"
            )

    def _absence(self, name: str) -> str:
        session = self.sessions.get(name)
        if session is None:
            return f"did not join within {self.job.max_timeout:g} s"
        return session.failure or "did not answer"

    # -- sending --------------------------------------------------------------------------------

    def _alive(self) -> list[PartySession]:
        return [session for session in self.sessions.values() if session.alive]

    def _send_to(self, session: PartySession, message: Message) -> None:
        if not self._send(session.connection, message):
            self._lose(session, "closed its connection")

    def _send(self, connection: Connection, message: Message, timeout: float | None = None) -> bool:
        try:
            connection.send(message, timeout or self.job.max_timeout)
            return True
        except (ConnectionClosed, OSError):
            return False

    def _abort(self, reason: str) -> None:
        for session in self._alive():
            self._send(session.connection, Message(protocol.ABORT, {"reason": reason}), _ABORT_TIMEOUT)

    def _plot(self) -> None:
        if not self.status.document["rounds"]:
            return
        from fldecl.fl.plot import plot_metrics  # lazy: matplotlib only once there is a round to plot

        plot_metrics(self.job.name, self.status.document["rounds"], self.work_dir / METRICS_PLOT)


def _round_record(
    round_number: int,
    updates: dict[str, Message],
    evaluations: dict[str, Message],
    counters: dict[str, tuple[int, int]],
    sessions: dict[str, PartySession],
    seconds: float,
) -> dict[str, Any]:
    """Per-party metrics of one round, and the fused model's metrics averaged over test points."""
    parties: dict[str, dict[str, Any]] = {}
    for name, (received_before, sent_before) in counters.items():
        connection = sessions[name].connection
        entry: dict[str, Any] = {
            "bytes_sent": connection.bytes_received - received_before,
            "bytes_received": connection.bytes_sent - sent_before,
            "contributed": name in updates,
        }
        if name in updates:
            entry.update(updates[name].fields.get("metrics", {}))
        if name in evaluations:
            entry.update({f"fused_{key}": value for key, value in evaluations[name].fields["metrics"].items()})
            entry["test_points"] = int(evaluations[name].fields.get("test_points", 0))
        parties[name] = entry
    return {
        "round": round_number,
        "seconds": round(seconds, 3),
        "contributors": sorted(updates),
        "parties": parties,
        "fused": _weighted_fused_metrics(evaluations),
    }


def _weighted_fused_metrics(evaluations: dict[str, Message]) -> dict[str, float]:
    totals: dict[str, float] = {}
    points = 0
    for message in evaluations.values():
        weight = int(message.fields.get("test_points", 0))
        points += weight
        for key, value in message.fields["metrics"].items():
            totals[key] = totals.get(key, 0.0) + float(value) * weight
    return {key: value / points for key, value in totals.items()} if points else {}


def _describe_round(record: dict[str, Any]) -> str:
    metrics = ", ".join(f"{key} {value:.4f}" for key, value in sorted(record["fused"].items()))
    return f"round {record['round']} completed in {record['seconds']:.1f} s" + (f": fused model {metrics}" if metrics else "")


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if len(arguments) != 1:
        print("usage: python -m fldecl.fl.aggregator JOB.json", file=sys.stderr)
        return 2
    aggregator = Aggregator(TrainingJob.load(Path(arguments[0])), log=sys.stdout)

    def cancel(signum: int, frame: object) -> None:
        raise TrainingCanceled()

    signal.signal(signal.SIGTERM, cancel)
    signal.signal(signal.SIGINT, cancel)
    state = aggregator.serve()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    return 0 if state == COMPLETED else 1


if __name__ == "__main__":
    sys.exit(main())
