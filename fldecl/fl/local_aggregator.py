"""The local runtime's aggregator process: the round workflow over a mutual-TLS transport.

Run as ``python -m fldecl.fl.local_aggregator JOB.json``. :class:`TlsTransport` serves the
:class:`~fldecl.fl.transport.Transport` interface: it accepts TLS connections from parties whose
certificates the stack's CA issued, reads their ``hello`` {training_id, party} and answers
``welcome`` {max_timeout} or ``refused`` {reason}; then it carries the workflow's tasks as frames
(:mod:`fldecl.fl.framing`), each stamped with a ``task_id`` field that the party echoes in its
reply, so a late reply to an earlier task is told apart. Every wait has a deadline and a closed
connection counts as "no answer", so a dead party can never hang a round.
"""

from __future__ import annotations

import select
import signal
import socket
import ssl
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from fldecl.fl import protocol
from fldecl.fl.errors import ConnectionClosed, TrainingCanceled, WireError
from fldecl.fl.framing import HANDSHAKE_TIMEOUT, HELLO, REFUSED, TASK_ID, WELCOME, Connection
from fldecl.fl.protocol import Message
from fldecl.fl.roster import Roster
from fldecl.fl.status import StatusWriter
from fldecl.fl.training_job import TrainingJob
from fldecl.fl.transport import AdmissionEvent, Admit, Candidate, Joined, NoAnswer, Refusal, Refused, Reply, Traffic, Transport
from fldecl.fl.workflow import RoundWorkflow
from fldecl.pki.tls import server_ssl_context
from fldecl.vocabulary import COMPLETED

_ABORT_TIMEOUT = 5.0
_LAST_WORDS_TIMEOUT = 0.5


@dataclass
class _Link:
    """The connection of an admitted party."""

    party: str
    connection: Connection
    alive: bool = True

    def close(self) -> None:
        self.alive = False
        self.connection.close()


class TlsTransport:
    """The workflow's :class:`~fldecl.fl.transport.Transport` over mutual TLS; :meth:`bind` before use."""

    def __init__(self, job: TrainingJob) -> None:
        self.job = job
        self.ssl_context = server_ssl_context(Path(job.aggregator_cert_file), Path(job.aggregator_key_file), Path(job.ca_cert_file))
        self.listener: socket.socket | None = None
        self.links: dict[str, _Link] = {}
        self._task_id = 0

    def bind(self) -> tuple[str, int]:
        """Listen on the job's host and port (0 picks a free port)."""
        self.listener = socket.create_server((self.job.host, self.job.port))
        return self.job.host, int(self.listener.getsockname()[1])

    # -- admission ------------------------------------------------------------------------------

    def wait_for_parties(self, admit: Admit, timeout: float) -> list[AdmissionEvent]:
        listener, links = self._listener(), self._alive()
        events: list[AdmissionEvent] = []
        ready = [link for link in links if link.connection.has_buffered_data()]
        if not ready:
            readable, _, _ = select.select([listener] + [link.connection.sock for link in links], [], [], max(timeout, 0.0))
            if listener in readable:
                events.append(self._accept(admit))
            ready = [link for link in links if link.connection.sock in readable]
        for link in ready:  # before its first task, a party speaks only to say that it stops
            message = self._receive(link, time.monotonic() + HANDSHAKE_TIMEOUT)
            events.append(message if isinstance(message, NoAnswer) else self._gone(link, "spoke before the training started"))
        return events

    def _accept(self, admit: Admit) -> AdmissionEvent:
        raw, address = self._listener().accept()
        origin = f"{address[0]}:{address[1]}"
        raw.settimeout(HANDSHAKE_TIMEOUT)
        try:
            tls = self.ssl_context.wrap_socket(raw, server_side=True)
        except ssl.SSLCertVerificationError as error:
            raw.close()
            return Refused(origin, f"its certificate {error.verify_message}")
        except (ssl.SSLError, OSError) as error:
            raw.close()
            return Refused(origin, f"TLS handshake failed ({error})")
        connection = Connection(tls)
        try:
            hello = connection.receive(HANDSHAKE_TIMEOUT)
        except (WireError, TimeoutError, OSError) as error:
            connection.close()
            return Refused(origin, f"it sent no hello ({error})")
        claimed = hello.fields.get("party")
        certificate = tls.getpeercert(binary_form=True) or b""
        try:
            if hello.type != HELLO:
                raise Refusal(f"expected hello, got {hello.type!r}")
            party = admit(Candidate(origin, certificate, claimed, hello.fields.get("training_id")))
        except Refusal as refusal:
            _send_quietly(connection, Message(REFUSED, {"reason": str(refusal)}), HANDSHAKE_TIMEOUT)
            connection.close()
            return Refused(origin, str(refusal), claimed if isinstance(claimed, str) else None)
        _send_quietly(connection, Message(WELCOME, {"max_timeout": self.job.max_timeout}), HANDSHAKE_TIMEOUT)
        self.links[party] = _Link(party, connection)
        return Joined(party, ssl.DER_cert_to_PEM_cert(certificate), origin)

    # -- tasks ----------------------------------------------------------------------------------

    def ask(self, tasks: Mapping[str, Message], timeout: float) -> dict[str, Reply]:
        self._task_id += 1
        replies: dict[str, Reply] = {}
        waiting: dict[str, _Link] = {}
        for party, task in tasks.items():
            link = self.links.get(party)
            if link is None or not link.alive:
                replies[party] = NoAnswer(party, "is not connected", gone=True)
            elif not _send_quietly(link.connection, _stamped(task, self._task_id), timeout):
                replies[party] = self._lost(link, "closed its connection")
            else:
                waiting[party] = link
        deadline = time.monotonic() + timeout
        while waiting and (remaining := deadline - time.monotonic()) > 0:
            for link in self._ready(list(waiting.values()), remaining):
                reply = self._receive(link, deadline)
                if isinstance(reply, NoAnswer) or reply.fields.pop(TASK_ID, None) == self._task_id:
                    replies[link.party] = reply
                    waiting.pop(link.party)
        for party in waiting:
            replies[party] = NoAnswer(party, f"did not answer within {timeout:g} s", gone=False)
        return replies

    def tell(self, parties: Iterable[str], message: Message) -> None:
        for party in parties:
            link = self.links.get(party)
            if link is not None and link.alive:
                _send_quietly(link.connection, message, _ABORT_TIMEOUT)

    def drop(self, party: str) -> None:
        link = self.links.get(party)
        if link is not None:
            link.close()

    def traffic(self, party: str) -> Traffic:
        link = self.links.get(party)
        return Traffic(link.connection.bytes_received, link.connection.bytes_sent) if link else Traffic()

    def close(self) -> None:
        if self.listener is not None:
            self.listener.close()
        for link in self.links.values():
            link.close()

    # -- receiving ------------------------------------------------------------------------------

    def _receive(self, link: _Link, deadline: float) -> Message | NoAnswer:
        """One message from ``link``, or why the party is gone (its link is closed then)."""
        try:
            message = link.connection.receive(max(deadline - time.monotonic(), 1.0))
        except (ConnectionClosed, ssl.SSLError, OSError):
            return self._lost(link, "closed its connection")
        except TimeoutError:
            return self._lost(link, "stopped sending mid-message")
        except WireError as error:
            return self._lost(link, f"sent an invalid frame ({error})")
        if message.type == protocol.ERROR:
            return self._gone(link, "stopped with an error", str(message.fields.get("reason", "no reason given")))
        return message

    def _lost(self, link: _Link, reason: str) -> NoAnswer:
        """A party that went away; an error it sent before closing is its reason, not the closing."""
        try:
            message = link.connection.receive(_LAST_WORDS_TIMEOUT)
        except (WireError, TimeoutError, OSError, ssl.SSLError):
            return self._gone(link, reason)
        if message.type == protocol.ERROR:
            return self._gone(link, "stopped with an error", str(message.fields.get("reason", "no reason given")))
        return self._gone(link, reason)

    def _gone(self, link: _Link, reason: str, party_error: str | None = None) -> NoAnswer:
        link.close()
        return NoAnswer(link.party, reason, gone=True, party_error=party_error)

    def _ready(self, links: list[_Link], timeout: float) -> list[_Link]:
        buffered = [link for link in links if link.connection.has_buffered_data()]
        if buffered:
            return buffered
        readable, _, _ = select.select([link.connection.sock for link in links], [], [], timeout)
        return [link for link in links if link.connection.sock in readable]

    def _alive(self) -> list[_Link]:
        return [link for link in self.links.values() if link.alive]

    def _listener(self) -> socket.socket:
        if self.listener is None:
            raise RuntimeError("TlsTransport.bind() was not called")
        return self.listener


class Aggregator:
    """A local training's aggregator: :meth:`bind`, then :meth:`serve`; the outcome lands in ``status.json``.

    ``roster`` replaces the job's own (its parties and quorum); ``relay`` wraps the TLS transport
    in another :class:`~fldecl.fl.transport.Transport`, to watch or alter what passes through it.
    """

    def __init__(self, job: TrainingJob, roster: Roster | None = None,
                 relay: Callable[[Transport], Transport] | None = None, log: TextIO | None = None) -> None:
        """``log``: where each event is written as a line too (the process's ``aggregator.log``)."""
        self.job = job
        self.status = StatusWriter(Path(job.work_dir), job.training_id, job.rounds, log)
        self.transport = TlsTransport(job)
        self.workflow = RoundWorkflow(job, relay(self.transport) if relay else self.transport, self.status, roster)
        self.address: tuple[str, int] | None = None

    def bind(self) -> tuple[str, int]:
        """Listen on the job's host and port (0 picks a free port) and publish the address."""
        host, port = self.address = self.transport.bind()
        self.status.update(aggregator={"host": host, "port": port})
        self.status.event("listening", f"aggregator listening on {host}:{port}", host=host, port=port)
        return host, port

    def serve(self) -> str:
        """Run the training to its end and return the final state; never raises for a failed training."""
        if self.address is None:
            self.bind()
        return self.workflow.run()


def _stamped(task: Message, task_id: int) -> Message:
    return Message(task.type, {**task.fields, TASK_ID: task_id}, task.payloads)


def _send_quietly(connection: Connection, message: Message, timeout: float) -> bool:
    """Send, reporting a closed connection as False: a party that is gone is news for the caller, not an error."""
    try:
        connection.send(message, timeout)
    except (ConnectionClosed, OSError):
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if len(arguments) != 1:
        print("usage: python -m fldecl.fl.local_aggregator JOB.json", file=sys.stderr)
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
