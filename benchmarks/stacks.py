"""Manifests the benchmarks generate, written the way users write them: many remote training
systems, the example stack, and the example grown to many parties."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import yaml

RTS = """apiVersion: fldecl/v1
kind: RemoteTrainingSystem
metadata: {{name: Party_{i}}}
spec:
  description: party {i}
  organization: {{name: IBM, region: US}}
  allowed_identities: [{{id: user-{i}, type: user}}]
  remote_admin: {{id: user-{i}, type: user}}
"""


def write_remote_training_systems(directory: Path, count: int, per_file: int = 1000) -> None:
    """``count`` RemoteTrainingSystem documents, Party_0 to Party_<count-1>, ``per_file`` to a manifest
    (manifests are limited to 1 MiB)."""
    for first in range(0, count, per_file):
        documents = (RTS.format(i=i) for i in range(first, min(first + per_file, count)))
        (directory / f"rts-{first // per_file:02d}.yaml").write_text("---\n".join(documents))


EXAMPLE = Path(__file__).resolve().parent.parent / "manifests" / "mnist-fhe"


def example_copy(directory: Path) -> Path:
    """A fresh copy of the example stack (its manifests and handler, no state, no keys)."""
    shutil.copytree(EXAMPLE, directory, ignore=shutil.ignore_patterns(".fldecl", "pki", "data"))
    return directory


def consortium(directory: Path, parties: int) -> Path:
    """The example grown to ``parties`` parties: a key and certificate each, one RTS each, all in the training.

    Parties are ``launch: manual`` so a benchmark can start the training without running them.
    """
    stack = example_copy(directory)
    documents = {path.name: list(yaml.safe_load_all(path.read_text())) for path in stack.glob("*.yaml")}
    certificate, rts = documents["pki.yaml"][1], documents["rts.yaml"][0]
    documents["pki.yaml"] = documents["pki.yaml"][:1] + [_party_certificate(certificate, i) for i in range(1, parties + 1)]
    documents["rts.yaml"] = [_party(rts, i) for i in range(1, parties + 1)]
    documents["data.yaml"][0]["spec"]["parties"] = parties
    documents["data.yaml"][0]["spec"]["points_per_party"] = 20
    remote = documents["training.yaml"][0]["spec"]["remote_training"]
    remote["remote_training_systems"] = [{"name": f"Party_{i}", "required": False} for i in range(1, parties + 1)]
    remote["quorum"] = 0.5
    remote["max_timeout"] = 3600  # the training waits for its parties while a benchmark measures
    for name, docs in documents.items():
        (stack / name).write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return stack


def _party_certificate(template: dict[str, Any], index: int) -> dict[str, Any]:
    document = copy.deepcopy(template)
    document["metadata"]["name"] = f"party-{index}"
    document["spec"].update(subject={"common_name": f"Party_{index}", "organization": "IBM"},
                            key_file=f"pki/sb_asym_v1_{index}.pem", cert_file=f"pki/sb_cert_v1_{index}.pem")
    return document


def _party(template: dict[str, Any], index: int) -> dict[str, Any]:
    document = copy.deepcopy(template)
    document["metadata"]["name"] = f"Party_{index}"
    document["spec"]["description"] = f"Party {index} of the consortium"
    party = document["spec"]["party"]
    party.update(certificate=f"party-{index}", launch="manual")
    party["data_handler"]["info"] = {"npz_file": f"data/data_party_{index}.npz"}
    return document
