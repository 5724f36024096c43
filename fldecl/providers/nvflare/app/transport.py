"""The round workflow's :class:`~fldecl.fl.transport.Transport` over NVFlare tasks, inside fldecl's Controller.

Each message to a party is one NVFlare ``Task`` broadcast to that party's site alone, with the
workflow's timeout; the reply is caught by the task's ``result_received_cb`` (NVFlare clears a
finished task's results). A site that does not answer in time, whose client is dead, or that
replies with an error is a :class:`~fldecl.fl.transport.NoAnswer`.

NVFlare's sites pull their tasks, and its server learns that a site died only when the site's
heartbeat times out (ten minutes by default): a killed site would cost every later step the whole
``max_timeout``. So while a task waits, the Controller probes the sites that have not answered
every few seconds with an auxiliary message; a site the server can no longer route to twice in a
row has lost its connection, and the party is gone at once, as a party whose TCP connection
closed is on the local runtime.

Admission: NVFlare already authenticated each site by its certificate over mutual TLS (its name is
the certificate's common name). The Controller greets every site of the training with ``hello``;
the certificate a site answers with must name that site, and the workflow's roster then matches
it against the declared parties' certificates, as over TLS.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from fldecl.fl import protocol
from fldecl.fl.errors import TrainingCanceled
from fldecl.fl.protocol import Message
from fldecl.fl.transport import AdmissionEvent, Admit, Candidate, Joined, NoAnswer, Refusal, Refused, Reply, Traffic
from fldecl.providers.nvflare.app.messages import HELLO, PROBE_TOPIC, from_shareable, size, to_shareable

TASK_NAME = "fldecl"
_POLL_SECONDS = 0.05
_TELL_TIMEOUT = 10
#: How often the sites that have not answered a task yet are probed, how long a probe waits, and how many failed
#: probes in a row make a site lost (one may fail while a connection is re-made).
_PROBE_SECONDS = 3.0
_PROBE_TIMEOUT = 2.0
_PROBE_FAILURES = 2


@dataclass
class _Outstanding:
    """A task sent to one site, and its reply once NVFlare hands it over."""

    site: str
    task: Any
    reply: Any = None
    replied: bool = False


class NvflareTransport:
    def __init__(self, controller: Any, fl_ctx: Any, abort_signal: Any, training_id: str, sites: Iterable[str]) -> None:
        self.controller = controller
        self.fl_ctx = fl_ctx
        self.abort_signal = abort_signal
        self.training_id = training_id
        self.ungreeted = set(sites)
        self.sites: dict[str, str] = {}  # party -> site, once admitted
        self._hellos: dict[str, _Outstanding] = {}
        self._traffic: dict[str, list[int]] = {}
        self._lock = threading.Lock()

    # -- admission ------------------------------------------------------------------------------------------------------

    def wait_for_parties(self, admit: Admit, timeout: float) -> list[AdmissionEvent]:
        for site in sorted(self.ungreeted - set(self._hellos)):
            self._hellos[site] = self._send(site, Message(HELLO, {"training_id": self.training_id}), timeout=0)
        deadline = time.monotonic() + timeout
        while True:
            answered = [out for out in self._hellos.values() if out.replied or self._finished(out)]
            if answered or time.monotonic() >= deadline:
                return [self._greeted(out, admit) for out in answered]
            self._pause()

    def _greeted(self, out: _Outstanding, admit: Admit) -> AdmissionEvent:
        self._hellos.pop(out.site)
        self.ungreeted.discard(out.site)
        origin = f"NVFlare site {out.site}"
        reply = self._message(out)
        if isinstance(reply, NoAnswer):
            return Refused(origin, f"it did not answer the greeting ({reply.reason})")
        claimed = reply.fields.get("party")
        if reply.type != HELLO or len(reply.payloads) != 1:
            return Refused(origin, f"it answered the greeting with {reply.type!r}", claimed if isinstance(claimed, str) else None)
        certificate = reply.payloads[0]
        if _common_name(certificate) != out.site:
            return Refused(origin, f"it presented the certificate of {_common_name(certificate)!r}, not its own",
                           claimed if isinstance(claimed, str) else None)
        try:
            party = admit(Candidate(origin, certificate, claimed if isinstance(claimed, str) else None,
                                    reply.fields.get("training_id")))
        except Refusal as refusal:
            return Refused(origin, str(refusal), claimed if isinstance(claimed, str) else None)
        self.sites[party] = out.site
        self._traffic[party] = [0, 0]
        return Joined(party, x509.load_der_x509_certificate(certificate).public_bytes(_pem()).decode(), origin)

    # -- tasks ----------------------------------------------------------------------------------------------------------

    def ask(self, tasks: Mapping[str, Message], timeout: float) -> dict[str, Reply]:
        replies: dict[str, Reply] = {}
        outstanding: dict[str, _Outstanding] = {}
        for party, message in tasks.items():
            site = self.sites.get(party)
            if site is None:
                replies[party] = NoAnswer(party, "is not connected", gone=True)
                continue
            outstanding[party] = self._send(site, message, timeout)
            self._traffic[party][1] += size(message)
        deadline = time.monotonic() + timeout
        failed_probes: dict[str, int] = {}
        next_probe = time.monotonic() + _PROBE_SECONDS
        while True:
            waiting = [party for party, out in outstanding.items()
                       if not (out.replied or self._finished(out)) and failed_probes.get(party, 0) < _PROBE_FAILURES]
            if not waiting or time.monotonic() >= deadline:
                break
            if time.monotonic() >= next_probe:
                unreachable = self._unreachable([outstanding[party].site for party in waiting])
                for party in waiting:
                    failed_probes[party] = failed_probes.get(party, 0) + 1 if outstanding[party].site in unreachable else 0
                next_probe = time.monotonic() + _PROBE_SECONDS
            self._pause()
        for party, out in outstanding.items():
            if not out.replied and not self._finished(out):
                self.controller.cancel_task(out.task, fl_ctx=self.fl_ctx)
            if failed_probes.get(party, 0) >= _PROBE_FAILURES and not out.replied:
                replies[party] = NoAnswer(party, "lost its connection to the server", gone=True)
                continue
            reply = self._message(out, party, timeout)
            if isinstance(reply, Message):
                self._traffic[party][0] += size(reply)
            replies[party] = reply
        return replies

    def tell(self, parties: Iterable[str], message: Message) -> None:
        for party in parties:
            site = self.sites.get(party)
            if site is not None:
                self._send(site, message, timeout=_TELL_TIMEOUT)

    def drop(self, party: str) -> None:
        self.sites.pop(party, None)

    def traffic(self, party: str) -> Traffic:
        sent, received = self._traffic.get(party, [0, 0])
        return Traffic(sent, received)

    def close(self) -> None:
        self.controller.cancel_all_tasks(fl_ctx=self.fl_ctx)

    # -- NVFlare --------------------------------------------------------------------------------------------------------

    def _send(self, site: str, message: Message, timeout: float) -> _Outstanding:
        from nvflare.apis.controller_spec import Task

        out = _Outstanding(site, None)

        def received(client_task: Any, fl_ctx: Any) -> None:
            with self._lock:
                out.reply, out.replied = client_task.result, True

        out.task = Task(TASK_NAME, to_shareable(message), timeout=math.ceil(timeout) if timeout else 0, result_received_cb=received)
        self.controller.broadcast(out.task, self.fl_ctx, targets=[site], min_responses=1)
        return out

    def _message(self, out: _Outstanding, party: str | None = None, timeout: float = 0) -> Message | NoAnswer:
        """The reply of ``out`` as a message, or why there is none."""
        from nvflare.apis.fl_constant import ReturnCode

        who = party or out.site
        if not out.replied:
            status = out.task.completion_status
            if status is not None and "dead" in str(status).lower():
                return NoAnswer(who, "lost its connection to the server", gone=True)
            return NoAnswer(who, f"did not answer within {timeout:g} s" if timeout else "did not answer", gone=False)
        reply = out.reply
        code = reply.get_return_code() if reply is not None else ReturnCode.EMPTY_RESULT
        if code != ReturnCode.OK:
            return NoAnswer(who, "stopped with an error", gone=True, party_error=f"NVFlare return code {code}")
        try:
            message = from_shareable(reply)
        except ValueError as error:
            return NoAnswer(who, f"sent an invalid reply ({error})", gone=True)
        if message.type == protocol.ERROR:
            return NoAnswer(who, "stopped with an error", gone=True, party_error=str(message.fields.get("reason", "no reason given")))
        return message

    def _unreachable(self, sites: list[str]) -> set[str]:
        """Those of ``sites`` the server cannot route a message to now (a site that answers at all is reachable)."""
        from nvflare.apis.fl_constant import ReturnCode
        from nvflare.apis.shareable import Shareable

        replies = self.fl_ctx.get_engine().send_aux_request(targets=sites, topic=PROBE_TOPIC, request=Shareable(),
                                                            timeout=_PROBE_TIMEOUT, fl_ctx=self.fl_ctx, optional=True) or {}
        return {site for site, reply in replies.items() if reply.get_return_code() == ReturnCode.COMMUNICATION_ERROR}

    @staticmethod
    def _finished(out: _Outstanding) -> bool:
        return out.task.completion_status is not None

    def _pause(self) -> None:
        if self.abort_signal.triggered:
            raise TrainingCanceled()
        time.sleep(_POLL_SECONDS)


def _common_name(certificate_der: bytes) -> str | None:
    try:
        names = x509.load_der_x509_certificate(certificate_der).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except ValueError:
        return None
    return str(names[0].value) if names else None


def _pem() -> Any:
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.PEM
