"""The server side's view of the network: the small interface the round workflow runs over.

:class:`~fldecl.fl.workflow.RoundWorkflow` holds the training's logic (admission decisions, key
distribution, rounds, quorum, fusion, metrics) and nothing about sockets; a :class:`Transport`
moves :class:`~fldecl.fl.protocol.Message` s and nothing else. Two transports serve it:

- the local runtime's mutual-TLS server (:class:`fldecl.fl.local_aggregator.TlsTransport`);
- an NVIDIA FLARE Controller, where a task is a ``Task`` whose data is a ``Shareable`` made from
  :meth:`Message.to_dict <fldecl.fl.protocol.Message.to_dict>`, and ``ask`` is
  ``broadcast_and_wait`` (or ``send_and_wait``) with ``timeout``.

The contract, in the words the workflow relies on:

- **Admission.** :meth:`Transport.wait_for_parties` lets parties knock. For each, the transport
  learns who it is (the certificate it authenticated with, the name and training it claims) as a
  :class:`Candidate` and calls ``admit(candidate)``: that returns the party's declared name, or
  raises :class:`Refusal` with the reason, which the transport tells the knocker before closing.
  It returns what happened as events: :class:`Joined`, :class:`Refused`, and :class:`NoAnswer` for
  an admitted party that left or reported an error before its first task.
- **Tasks.** :meth:`Transport.ask` sends each named party its task and collects one reply per
  party within ``timeout`` seconds. A party that closes its connection, sends something invalid,
  replies ``error`` or does not reply in time is a :class:`NoAnswer` (``gone`` says whether it can
  ever answer again). Replies are matched to the task they answer: a late reply to an earlier task
  is never mistaken for this one. Nothing here checks the reply's type: the workflow does.
- **Liveness.** :meth:`Transport.drop` stops talking to a party the workflow gave up on.
- **Traffic.** :meth:`Transport.traffic` counts the bytes each party sent and received, for the
  per-round metrics (the bytes of the messages, as near as the transport can tell).
- **Cancel.** Any method may raise :class:`~fldecl.fl.errors.TrainingCanceled` when the user
  stops the training; the workflow then tells the parties (``tell``) and ends in ``canceled``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from fldecl.errors import RuntimeFailure
from fldecl.fl.protocol import Message


class Refusal(RuntimeFailure):
    """Raised by an ``admit`` callback: the candidate may not join, for this reason."""


@dataclass(frozen=True)
class Candidate:
    """Someone asking to join, as the transport saw them.

    ``certificate_der`` is the certificate the candidate authenticated with (mutual TLS, so it was
    issued by the stack's CA); ``claimed_name`` and ``training_id`` are what it says of itself.
    ``origin`` names where it comes from in messages (an address, an NVFlare site).
    """

    origin: str
    certificate_der: bytes
    claimed_name: str | None
    training_id: str | None


Admit = Callable[[Candidate], str]
"""The workflow's admission decision: the candidate's declared party name, or :class:`Refusal`."""


@dataclass(frozen=True)
class Joined:
    """``party`` was admitted; ``certificate_pem`` is its certificate, to seal the training's keys for."""

    party: str
    certificate_pem: str
    origin: str


@dataclass(frozen=True)
class Refused:
    """A candidate was turned away (by ``admit``, or because its TLS handshake or hello failed)."""

    origin: str
    reason: str
    claimed_name: str | None = None


@dataclass(frozen=True)
class NoAnswer:
    """A party that did not reply.

    ``reason`` completes "<party> ...": "closed its connection", "did not answer within 60 s".
    ``gone`` is True when it cannot answer any later task either (closed, invalid data, stopped).
    ``party_error`` is the reason the party itself gave when it replied ``error``.
    """

    party: str
    reason: str
    gone: bool
    party_error: str | None = None


AdmissionEvent = Joined | Refused | NoAnswer
Reply = Message | NoAnswer


@dataclass(frozen=True)
class Traffic:
    """Bytes a party sent to the server and received from it, since it joined."""

    sent: int = 0
    received: int = 0


@runtime_checkable
class Transport(Protocol):
    """Moves the workflow's tasks to parties and their replies back; see the module's docstring."""

    def wait_for_parties(self, admit: Admit, timeout: float) -> list[AdmissionEvent]:
        """Wait up to ``timeout`` seconds for admission news, returning as soon as there is some.

        An empty list means nothing happened within ``timeout``.
        """
        ...

    def ask(self, tasks: Mapping[str, Message], timeout: float) -> dict[str, Reply]:
        """Send ``tasks[party]`` to each party; return each party's reply or :class:`NoAnswer` within ``timeout`` s."""
        ...

    def tell(self, parties: Iterable[str], message: Message) -> None:
        """Send ``message`` to ``parties`` without waiting for replies, best effort (``abort``)."""
        ...

    def drop(self, party: str) -> None:
        """Stop talking to ``party``: it gets no more tasks and its connection closes."""
        ...

    def traffic(self, party: str) -> Traffic:
        """Bytes ``party`` sent and received so far."""
        ...

    def close(self) -> None:
        """Close every connection and stop admitting."""
        ...
