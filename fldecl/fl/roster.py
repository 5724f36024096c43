"""Who takes part in a training, after Flower's ``ClientManager``: admission, liveness and quorum.

A :class:`Roster` knows the declared parties (name, ``required``, certificate fingerprint) and the
training's quorum. It decides who may join (:meth:`Roster.admit`), remembers who joined and who
was lost and why (:meth:`Roster.joined`, :meth:`Roster.lose`), and checks after each step that the
parties which answered still meet the quorum and include every required party
(:meth:`Roster.check`). A missed quorum is a :class:`QuorumMissed`, whose fields say which step,
which round, who answered and why each missing party is missing; its message is only rendered from
them. The roster is plain data: no sockets, no clock, so a test builds one and checks it directly.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from fldecl.fl.errors import TrainingFailed
from fldecl.fl.protocol import certificate_fingerprint, file_fingerprint
from fldecl.fl.training_job import TrainingJob
from fldecl.fl.transport import Candidate, Refusal
from fldecl.quorum import quorum_size


class Step(Enum):
    """A step of the training that the quorum is checked after, with the words that describe it."""

    JOINING = ("joining", "can still join")
    JOINED = ("joining", "joined")
    SETUP = ("setup", "accepted the training's settings")
    KEYS = ("key distribution", "accepted the keys")
    TRAINING = ("round", "sent an update")
    EVALUATION = ("round", "evaluated the fused model")

    def __init__(self, where: str, verb: str) -> None:
        self.where = where
        self.verb = verb


@dataclass(frozen=True)
class DeclaredParty:
    """A party of the training as its manifests declare it."""

    name: str
    required: bool
    certificate_fingerprint: str


@dataclass
class Member:
    """A party that joined; ``failure`` says why it is gone or why it last missed an answer."""

    name: str
    certificate_pem: str
    alive: bool = True
    failure: str | None = None


class QuorumMissed(TrainingFailed):
    """The parties that answered a step do not meet the quorum, or a required party is missing."""

    def __init__(self, step: Step, round_number: int | None, answered: Collection[str], needed: int, total: int,
                 quorum: float, missing: dict[str, str], required_missing: str | None) -> None:
        self.step = step
        self.round = round_number
        self.answered = sorted(answered)
        self.needed = needed
        self.total = total
        self.quorum = quorum
        self.missing = missing
        self.required_missing = required_missing
        super().__init__(self._describe())

    def to_dict(self) -> dict[str, Any]:
        """The failure as data, for ``status.json``."""
        return {"step": self.step.name.lower(), "round": self.round, "answered": self.answered, "needed": self.needed,
                "missing": self.missing, "required_missing": self.required_missing}

    def _describe(self) -> str:
        where = f"round {self.round}" if self.step.where == "round" else self.step.where
        if self.required_missing is not None:
            return f"{where} failed: required party {self.required_missing} {self.missing[self.required_missing]}"
        reasons = "; ".join(f"{name} {reason}" for name, reason in self.missing.items())
        return (f"{where} failed: {len(self.answered)} of {self.total} parties {self.step.verb}, "
                f"quorum {self.quorum:g} needs {self.needed} ({reasons})")


@dataclass
class Roster:
    """The declared parties of one training and what became of each; see the module's docstring."""

    training_id: str
    training_name: str
    declared: list[DeclaredParty]
    quorum: float
    max_timeout: float
    members: dict[str, Member] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._by_fingerprint = {party.certificate_fingerprint: party for party in self.declared}

    @property
    def names(self) -> list[str]:
        return [party.name for party in self.declared]

    @property
    def required(self) -> list[str]:
        return [party.name for party in self.declared if party.required]

    @property
    def quorum_size(self) -> int:
        return quorum_size(self.quorum, len(self.declared))

    # -- admission ------------------------------------------------------------------------------

    def admit(self, candidate: Candidate) -> str:
        """The declared name of a candidate that may join; raises :class:`Refusal` with the reason otherwise."""
        declared = self._by_fingerprint.get(certificate_fingerprint(candidate.certificate_der))
        claimed = candidate.claimed_name
        if candidate.training_id != self.training_id:
            raise Refusal(f"this aggregator runs training {self.training_id!r}, not {candidate.training_id!r}")
        if declared is None:
            raise Refusal(f"its certificate is not the certificate of any party of training {self.training_name!r}")
        if claimed != declared.name:
            raise Refusal(f"it presented {declared.name}'s certificate but calls itself {claimed!r}")
        if declared.name in self.alive_names():
            raise Refusal(f"{claimed} has already joined")
        return declared.name

    def joined(self, name: str, certificate_pem: str) -> None:
        """Record an admitted party (again, if it had been lost)."""
        self.members[name] = Member(name, certificate_pem)

    @property
    def everyone_joined(self) -> bool:
        return len(self.members) == len(self.declared)

    # -- liveness -------------------------------------------------------------------------------

    def alive_names(self) -> list[str]:
        """Parties that joined and were not lost, in the order they joined."""
        return [name for name, member in self.members.items() if member.alive]

    def certificates(self) -> dict[str, str]:
        """The certificates of the live parties, to seal the training's keys for."""
        return {name: member.certificate_pem for name, member in self.members.items() if member.alive}

    def lose(self, name: str, reason: str) -> None:
        """``name`` will not answer again; ``reason`` completes "<name> ..." in later messages."""
        member = self.members[name]
        member.alive = False
        member.failure = member.failure or reason

    def missed(self, name: str, reason: str) -> None:
        """``name`` missed one answer but may answer later tasks."""
        member = self.members[name]
        member.failure = member.failure or reason

    def absence(self, name: str) -> str:
        """Why ``name`` is not among those who answered, completing "<name> ..."."""
        member = self.members.get(name)
        if member is None:
            return f"did not join within {self.max_timeout:g} s"
        return member.failure or "did not answer"

    def could_still_join(self) -> list[str]:
        """Parties that joined and are alive, or have not joined yet."""
        return [name for name in self.names if name not in self.members or self.members[name].alive]

    # -- quorum ---------------------------------------------------------------------------------

    def check(self, answered: Iterable[str], step: Step, round_number: int | None = None) -> None:
        """Raise :class:`QuorumMissed` unless every required party and ``ceil(quorum * n)`` parties answered."""
        answered = set(answered)
        missing = {name: self.absence(name) for name in self.names if name not in answered}
        required_missing = next((name for name in self.required if name in missing), None)
        if required_missing is not None or len(answered) < self.quorum_size:
            raise QuorumMissed(step, round_number, answered, self.quorum_size, len(self.declared), self.quorum, missing,
                               required_missing)


def roster_of(job: TrainingJob) -> Roster:
    """The roster of a job's declared parties, each recognised by the fingerprint of its certificate file."""
    declared = [DeclaredParty(party["name"], bool(party.get("required", False)), file_fingerprint(Path(party["cert_file"])))
                for party in job.parties]
    return Roster(job.training_id, job.name, declared, job.quorum, job.max_timeout)
