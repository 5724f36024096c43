"""A ``Training`` as it runs: its progress (rounds, where its aggregator listens), and its parties.

The core carries a training's progress opaquely (:attr:`~fldecl.core.contract.Observed.details`)
and knows nothing of parties; what they are is written here, once, for every backend: the
backends fill :class:`TrainingProgress`, the render layer prints it, and ``fldecl party run`` /
``party config`` find the party's training through the kind's ``members`` hook and hand the
backend a :class:`PartyRun` if it can run one (:class:`PartyRunner`) or make its kit
(:class:`PartyKitMaker`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from fldecl.core.contract import Observed, ProviderContext, Reporter
from fldecl.core.errors import PlanError, ProviderError
from fldecl.kinds.training import PARTY_KIND, TRAINING

if TYPE_CHECKING:
    from fldecl.core.reconciler import Reconciler


@dataclass(frozen=True)
class Endpoint:
    """Where a training's aggregator listens."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class PartyRound:
    """One party in one round: its metrics (local training, and ``fused_*``: the fused model scored on
    its test data), the bytes it sent and received (None where the backend does not report them), and
    whether its update was fused."""

    metrics: dict[str, float]
    bytes_sent: int | None = None
    bytes_received: int | None = None
    contributed: bool = True


@dataclass(frozen=True)
class RoundRecord:
    """One completed round: the fused model's metrics and each party's own."""

    round: int
    fused: dict[str, float]
    parties: dict[str, PartyRound]
    seconds: float | None = None


@dataclass(frozen=True)
class TrainingProgress:
    """What a backend knows of a training beyond its attributes: what ``show`` prints, what a party needs."""

    state: str
    reason: str | None = None
    rounds: tuple[RoundRecord, ...] = ()
    aggregator: Endpoint | None = None
    work_dir: str | None = None
    plot: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def round_from_status(entry: Mapping[str, Any]) -> RoundRecord:
    """A round of fldecl's ``status.json`` (the round workflow's, on every backend that runs it) as the kind's record."""
    parties = {}
    for name, values in entry.get("parties", {}).items():
        metrics = {key: value for key, value in values.items()
                   if isinstance(value, (int, float)) and not isinstance(value, bool) and not key.startswith(("bytes_", "test_"))}
        parties[name] = PartyRound(metrics, int(values.get("bytes_sent", 0)), int(values.get("bytes_received", 0)),
                                   bool(values.get("contributed", True)))
    return RoundRecord(int(entry["round"]), dict(entry.get("fused", {})), parties, entry.get("seconds"))


def progress_of(training: Observed) -> TrainingProgress | None:
    """The progress a backend observed for ``training``, if it did."""
    return training.details if isinstance(training.details, TrainingProgress) else None


@runtime_checkable
class RoundsReporter(Protocol):
    """A reporter that also shows a training's rounds as they complete (the CLI: a progress bar on a terminal)."""

    def rounds(self, address: str, completed: int, total: int) -> None: ...


def report_rounds(reporter: Reporter, address: str, completed: int, total: int) -> None:
    """Tell ``reporter`` how many of a training's rounds have completed, if it shows them."""
    if isinstance(reporter, RoundsReporter):
        reporter.rounds(address, completed, total)


@dataclass(frozen=True)
class LogFile:
    """One log of a training on this machine: its aggregator's, or a party's (``name``)."""

    name: str
    path: Path


@runtime_checkable
class Logged(Protocol):
    """A training resource type whose trainings leave logs on this machine (``fldecl logs``)."""

    def log_files(self, current: Observed, ctx: ProviderContext) -> list[LogFile]:
        """The logs of ``current`` that this machine holds, the aggregator's first; a file may not exist yet."""
        ...


def training_logs(rec: Reconciler, name: str) -> tuple[Observed, list[LogFile]]:
    """``fldecl logs``: the training ``name`` (or ``Training/NAME``) as the backend holds it now, and its logs here."""
    address = name if "/" in name else f"{TRAINING.name}/{name}"
    current = rec.owned(address)
    resource_type = rec.providers.resources.get(current.kind)
    if current.kind != TRAINING.name or not isinstance(resource_type, Logged):
        raise PlanError(f"the {rec.stack.backend} backend keeps no logs of {address}")
    return current, resource_type.log_files(current, rec.ctx)


@dataclass(frozen=True)
class PartyRun:
    """One party of one training, as the backend holds them, and what the user added on the command line.

    ``related`` is everything the stack owns, by id, so the backend can follow the references
    of the party's remote training system (its certificate, that certificate's CA) and of the
    training (its model). ``aggregator`` (HOST:PORT) is for a backend that cannot tell where
    the aggregator listens; ``key_file`` is a CSR party's own private key; ``trust_aggregator``
    lets the party load whatever model the aggregator sends, not only the one its stack declares.
    """

    rts: Observed
    training: Observed
    related: Mapping[str, Observed]
    aggregator: str | None = None
    key_file: Path | None = None
    trust_aggregator: bool = False

    def resource(self, resource_id: str, kind: str) -> Observed:
        """The owned resource of ``kind`` with this id, or an error that says to apply first."""
        found = self.related.get(resource_id)
        if found is None or found.kind != kind:
            raise ProviderError(f"the {kind} {resource_id} this party needs does not exist; run `fldecl apply` first")
        return found


@dataclass(frozen=True)
class PartyKit:
    """What one party needs to join a training by itself with its backend's party runtime; no secret is in it.

    On WML, IBM's party notebook takes exactly these: ``remote_training_systems.create_party(
    remote_training_system_id, party_metadata)``, then ``party.run(aggregator_id=aggregator_id)``.
    References to sensitive variables in ``party_metadata`` stay as written (``${NAME}``), for the
    party to resolve from its own environment.
    """

    party: str
    training: str
    remote_training_system_id: str
    aggregator_id: str
    party_metadata: dict[str, Any]


@runtime_checkable
class PartyRunner(Protocol):
    """A backend that runs a party of one of its trainings on this machine (``fldecl party run``)."""

    def run_party(self, run: PartyRun, ctx: ProviderContext) -> None:
        """Run ``run``'s party until the training ends."""
        ...


@runtime_checkable
class PartyKitMaker(Protocol):
    """A backend whose parties can join by themselves, with its own party runtime, given a kit (``fldecl party config``)."""

    def party_kit(self, run: PartyRun, party_dir: Path, ctx: ProviderContext) -> PartyKit:
        """The kit for ``run``'s party, its paths under ``party_dir`` (the stack directory as the party sees it)."""
        ...


def party_run(rec: Reconciler, rts_name: str, training_name: str | None = None, *, aggregator: str | None = None,
              key_file: Path | None = None, trust_aggregator: bool = False) -> PartyRun:
    """The party ``rts_name`` of ``training_name`` (by default, the one training that lists it), as the backend holds them."""
    rts_address = f"{PARTY_KIND}/{rts_name}"
    rec.stack.declared(rts_address)
    joined = rec.membership(rts_address, _training_of(rec, rts_address, rts_name, training_name))
    return PartyRun(joined.member, joined.group, joined.related, aggregator, key_file, trust_aggregator)


def run_party(rec: Reconciler, rts_name: str, training_name: str, *, aggregator: str | None = None,
              key_file: Path | None = None, trust_aggregator: bool = False) -> None:
    """``fldecl party run``: the backend runs the party ``rts_name`` of ``training_name`` here."""
    run = party_run(rec, rts_name, training_name, aggregator=aggregator, key_file=key_file, trust_aggregator=trust_aggregator)
    backend = rec.providers.backend
    if not isinstance(backend, PartyRunner):
        raise PlanError(f"the {rec.stack.backend} backend runs no party here: its parties join by themselves")
    backend.run_party(run, rec.ctx)


def party_kit(rec: Reconciler, rts_name: str, training_name: str | None = None, *, key_file: Path | None = None,
              party_dir: Path | None = None) -> PartyKit:
    """``fldecl party config``: what the party ``rts_name`` needs to join by itself, with its backend's own runtime."""
    run = party_run(rec, rts_name, training_name, key_file=key_file)
    backend = rec.providers.backend
    if not isinstance(backend, PartyKitMaker):
        raise PlanError(f"`fldecl party config` gives a backend's own party runtime its settings; on the {rec.stack.backend} backend "
                        f"{run.rts.name} joins with: fldecl party run {run.rts.name} --training {run.training.name} "
                        "[--aggregator HOST:PORT]")
    return backend.party_kit(run, party_dir or rec.stack.directory, rec.ctx)


def _training_of(rec: Reconciler, rts_address: str, rts_name: str, training_name: str | None) -> str:
    """The address of the training the party joins: the one named, which must list it, or the only one that does."""
    listing = [decl for decl in rec.joined_by(rts_address) if decl.kind == TRAINING.name]
    if training_name is not None:
        address = f"{TRAINING.name}/{training_name}"
        rec.stack.declared(address)
        if address not in [decl.address for decl in listing]:
            raise PlanError(f"{rts_name} is not a party of {address}")
        return address
    if len(listing) != 1:
        found = ", ".join(decl.name for decl in listing) or "none"
        raise PlanError(f"say which training {rts_name} joins with --training (trainings that list it: {found})")
    return listing[0].address
