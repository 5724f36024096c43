"""The emulator's own reading of the WML documents it serves, in WML's documented shape.

A training's ``entity.federated_learning`` and a model's entity, as typed records, so the
clock, the runners and the routes read one definition of them, and nothing here depends on how
a client built them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Document = dict[str, Any]


@dataclass(frozen=True)
class ListedParty:
    """A remote training system a training lists, by id."""

    id: str
    required: bool


@dataclass(frozen=True)
class FederatedTraining:
    """A training's ``entity.federated_learning``: what to train, how to fuse, with which parties."""

    fusion_type: str | None
    model_id: str | None
    model_file: str | None
    rounds: int
    epochs: int | None
    metrics: str
    cipher_spec: str | None
    optimizer: dict[str, Any] | None
    loss: str | None
    quorum: float | None
    max_timeout: float | None
    parties: tuple[ListedParty, ...]

    @classmethod
    def of(cls, training: Document) -> FederatedTraining:
        federated = (training.get("entity") or {}).get("federated_learning") or {}
        model = federated.get("model") or {}
        remote = federated.get("remote_training") or {}
        return cls(
            fusion_type=federated.get("fusion_type"), model_id=(model.get("spec") or {}).get("id"),
            model_file=model.get("model_file"), rounds=max(1, int(federated.get("rounds") or 1)), epochs=federated.get("epochs"),
            metrics=federated.get("metrics") or "accuracy", cipher_spec=(federated.get("crypto") or {}).get("cipher_spec"),
            optimizer=federated.get("optimizer"), loss=federated.get("loss"), quorum=remote.get("quorum"),
            max_timeout=remote.get("max_timeout"),
            parties=tuple(ListedParty(item["id"], bool(item.get("required", False)))
                          for item in remote.get("remote_training_systems", []) if "id" in item),
        )

    @property
    def party_ids(self) -> list[str]:
        return [party.id for party in self.parties]


@dataclass(frozen=True)
class StoredModel:
    """A model asset: its name and WML model type (e.g. ``pytorch-onnx_1.12``)."""

    name: str | None
    type: str | None

    @classmethod
    def of(cls, model: Document) -> StoredModel:
        return cls(model["metadata"].get("name"), (model.get("entity") or {}).get("type"))
