"""The training's observable state: ``status.json``, rewritten atomically after every event.

The aggregator process is the only writer; ``run_training`` (or any other process) follows the file
and turns its new events into :class:`TrainingEvent` callbacks, so progress needs no extra channel.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from fldecl.fl.files import read_json, write_json_atomically
from fldecl.vocabulary import PENDING, TERMINAL_STATES

STATUS_FILE = "status.json"


@dataclass
class TrainingEvent:
    """One thing that happened, for a progress display.

    ``kind`` is one of: listening, party_joined, party_refused, party_lost, party_error,
    keys_requested, keys_distributed, round_started, update_received, round_fused,
    round_completed, final_models, state (from the aggregator); connected, keys_generated, keys_accepted,
    trained, evaluated, finished (from a party, in ``run_party``).
    """

    kind: str
    message: str
    round: int | None = None
    party: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainingEvent:
        return cls(**values)

    def log_line(self) -> str:
        """The event as a line of a log: UTC time, kind, message."""
        stamp = datetime.fromtimestamp(self.time, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return f"{stamp} {self.kind}: {self.message}"


class StatusWriter:
    """Holds the status document and rewrites ``status.json`` whenever it changes; each event is also a line of ``log``
    (the aggregator's standard output, which is its ``aggregator.log``)."""

    def __init__(self, work_dir: Path, training_id: str, rounds: int, log: TextIO | None = None) -> None:
        self.path = Path(work_dir) / STATUS_FILE
        self.log = log
        self.document: dict[str, Any] = {
            "training_id": training_id,
            "state": PENDING,
            "reason": None,
            "pid": os.getpid(),
            "aggregator": None,
            "rounds_total": rounds,
            "rounds_completed": 0,
            "rounds": [],
            "key_distribution": None,
            "parties": {},
            "events": [],
            "started_at": time.time(),
            "finished_at": None,
        }
        self.save()

    @property
    def state(self) -> str:
        return str(self.document["state"])

    def update(self, **values: Any) -> None:
        self.document.update(values)
        self.save()

    def event(self, kind: str, message: str, round: int | None = None, party: str | None = None, **data: Any) -> None:
        event = TrainingEvent(kind, message, round=round, party=party, data=data)
        self.document["events"].append(asdict(event))
        self.save()
        if self.log is not None:
            print(event.log_line(), file=self.log, flush=True)

    def set_state(self, state: str, reason: str | None = None) -> None:
        self.document.update(state=state, reason=reason)
        if state in TERMINAL_STATES:
            self.document["finished_at"] = time.time()
        self.event("state", f"training {state}" + (f": {reason}" if reason else ""), state=state, reason=reason)

    def add_round(self, record: dict[str, Any]) -> None:
        self.document["rounds"].append(record)
        self.document["rounds_completed"] = len(self.document["rounds"])
        self.save()

    def save(self) -> None:
        write_json_atomically(self.path, self.document)


def read_status(work_dir: Path) -> dict[str, Any] | None:
    """The current status document, or None before the aggregator wrote one."""
    return read_json(Path(work_dir) / STATUS_FILE)
