"""What a federated training needs, as JSON-serialisable dataclasses.

The server side reads :class:`TrainingJob`: the round workflow its training's settings, the local
runtime's TLS transport also where to listen and with which certificate. A party reads only its
own :class:`PartySettings` (its key, its data handler), so nothing of a party reaches the aggregator.
``job.json`` carries the settings of the parties this machine runs itself in ``local_parties``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fldecl.fl.files import write_json_atomically
from fldecl.vocabulary import CRYPTO_ITER_AVG, LOCAL_FUSION_TYPES

JOB_FILE = "job.json"


@dataclass
class PartySettings:
    """What lives at one party: its identity and its data. Paths may be relative to ``stack_dir``."""

    name: str
    cert_file: str
    key_file: str
    ca_cert_file: str
    data_handler_path: str
    data_handler_class: str
    data_handler_info: dict[str, Any] = field(default_factory=dict)
    stack_dir: str = "."

    def path(self, value: str) -> Path:
        """Resolve one of the settings' paths against the stack directory."""
        return Path(self.stack_dir) / value


@dataclass
class TrainingJob:
    """The aggregator's view of a training: hyperparameters, the parties' certificates, where to listen.

    ``parties`` holds ``{"name", "required", "cert_file"}`` per declared party; the aggregator
    recognises each party by the fingerprint of that certificate.
    """

    training_id: str
    name: str
    model_zip: str
    model_file: str
    model_type: str
    trusted: bool
    fusion_type: str
    cipher_spec: str | None
    epochs: int
    rounds: int
    metrics: str
    optimizer: dict[str, Any] | None
    loss: str | None
    batch_size: int
    seed: int
    quorum: float
    max_timeout: float
    parties: list[dict[str, Any]]
    ca_cert_file: str
    aggregator_cert_file: str
    aggregator_key_file: str
    host: str = "127.0.0.1"
    port: int = 0
    work_dir: str = "."
    local_parties: list[PartySettings] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.local_parties = [
            settings if isinstance(settings, PartySettings) else PartySettings(**settings)
            for settings in self.local_parties
        ]
        if self.fusion_type not in LOCAL_FUSION_TYPES:
            raise ValueError(
                f"fusion type {self.fusion_type!r} does not run on the local backend (supported: {', '.join(LOCAL_FUSION_TYPES)})"
            )
        if not 0 < self.quorum <= 1:
            raise ValueError(f"quorum must be in (0, 1], got {self.quorum}")
        if not self.parties:
            raise ValueError("a training needs at least one party")

    @property
    def encrypted(self) -> bool:
        return self.fusion_type == CRYPTO_ITER_AVG

    @property
    def party_names(self) -> list[str]:
        return [party["name"] for party in self.parties]

    def local_party(self, name: str) -> PartySettings:
        for settings in self.local_parties:
            if settings.name == name:
                return settings
        raise KeyError(f"{name} is not a party this machine runs (local parties: {', '.join(self.local_party_names) or 'none'})")

    @property
    def local_party_names(self) -> list[str]:
        return [settings.name for settings in self.local_parties]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: Path) -> None:
        write_json_atomically(path, self.to_dict())

    @classmethod
    def load(cls, path: Path) -> TrainingJob:
        return cls(**json.loads(Path(path).read_text()))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainingJob:
        return cls(**values)
