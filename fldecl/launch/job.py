"""A federated training's job, built in one place for everything that starts a local run.

The local backend builds a training from the resources its apply made; the emulator's stack
trainings build one from WML's documents and the consortium's manifests. Both hand the same
inputs to :func:`training_job`, so both runs get the same hyperparameters, the same party
settings and an aggregator certificate issued the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fldecl import pki
from fldecl.core.contract import Observed
from fldecl.fl.training_job import PartySettings, TrainingJob
from fldecl.launch.errors import LaunchError
from fldecl.launch.parties import party_identity, party_settings, runs_here

AGGREGATOR_CERTIFICATE_DAYS = 30
AGGREGATOR_NAMES = ("localhost", "127.0.0.1")


@dataclass(frozen=True)
class ModelToTrain:
    """The initial model: its zip, the file inside it, and whether unpickling it may run its code."""

    zip_file: Path
    model_file: str
    model_type: str
    trusted: bool


@dataclass(frozen=True)
class Authority:
    """The consortium's CA: the certificate every party is checked against, the key that issues the aggregator's."""

    key_file: Path
    cert_file: Path


@dataclass(frozen=True)
class JobParty:
    """A party of the training: the aggregator recognises it by ``cert_file``; ``runs_here`` if this machine starts it."""

    name: str
    required: bool
    cert_file: str
    runs_here: PartySettings | None = None


def training_job(training_id: str, name: str, spec: Mapping[str, Any], model: ModelToTrain, authority: Authority,
                 parties: list[JobParty], work_dir: Path) -> TrainingJob:
    """The job of a Training whose ``spec`` has its defaults filled in; issues the aggregator's certificate."""
    work_dir.mkdir(parents=True, exist_ok=True)
    aggregator_key, aggregator_cert = _issue_aggregator_certificate(name, authority, work_dir / "aggregator")
    return TrainingJob(
        training_id=training_id, name=name, **training_settings(spec, model),
        parties=[{"name": party.name, "required": party.required, "cert_file": party.cert_file} for party in parties],
        ca_cert_file=str(authority.cert_file), aggregator_cert_file=str(aggregator_cert),
        aggregator_key_file=str(aggregator_key), work_dir=str(work_dir),
        local_parties=[party.runs_here for party in parties if party.runs_here is not None],
    )


def training_settings(spec: Mapping[str, Any], model: ModelToTrain) -> dict[str, Any]:
    """A job's settings from a Training's ``spec`` (defaults filled in) and its initial model: every runtime's, the same."""
    remote = spec["remote_training"]
    return {
        "model_zip": str(model.zip_file), "model_file": model.model_file, "model_type": model.model_type, "trusted": model.trusted,
        "fusion_type": spec["fusion_type"], "cipher_spec": (spec.get("crypto") or {}).get("cipher_spec"),
        "epochs": spec["epochs"], "rounds": spec["rounds"], "metrics": spec["metrics"], "optimizer": spec.get("optimizer"),
        "loss": spec.get("loss"), "batch_size": spec["batch_size"], "seed": spec["seed"],
        "quorum": remote["quorum"], "max_timeout": remote["max_timeout"],
    }


def job_parties(listed: Sequence[Mapping[str, Any]], related: Mapping[str, Observed], stack_dir: Path,
                every_party_here: bool = False) -> tuple[list[JobParty], Authority]:
    """The training's parties (``remote_training_systems`` with ids) and the one CA that issued all their certificates.

    A party runs on this machine unless it is ``launch: manual``, or always with ``every_party_here``.
    """
    parties, authorities = [], {}
    for item in listed:
        rts = related.get(item["name"])
        if rts is None:
            raise LaunchError(f"the remote training system {item['name']} does not exist")
        identity = party_identity(rts, related)
        authority = identity.authority
        authorities[authority.address] = Authority(stack_dir / authority.attributes["key_file"],
                                                   stack_dir / authority.attributes["cert_file"])
        here = party_settings(identity, stack_dir) if every_party_here or runs_here(rts) else None
        parties.append(JobParty(rts.name, bool(item.get("required")), str(identity.cert_file(stack_dir)), here))
    if len(authorities) != 1:
        raise LaunchError(f"the parties' certificates must come from one CertificateAuthority, not {sorted(authorities) or 'none'}")
    return parties, next(iter(authorities.values()))


def trusted_model(model_spec: Mapping[str, Any]) -> bool:
    """A model fldecl builds from a declared architecture, or one a manifest marks trusted, may be unpickled."""
    return bool("architecture" in model_spec["source"] or model_spec.get("trusted"))


def _issue_aggregator_certificate(training_name: str, authority: Authority, directory: Path) -> tuple[Path, Path]:
    """A short-lived server certificate from the CA, so parties accept the aggregator over mutual TLS."""
    key_file, cert_file = directory / "key.pem", directory / "cert.pem"
    try:
        pki.issue_certificate(authority.key_file, authority.cert_file, pki.Subject(common_name=f"aggregator {training_name}"),
                              list(AGGREGATOR_NAMES), AGGREGATOR_CERTIFICATE_DAYS, key_file, cert_file)
    except pki.PKIError as exc:
        raise LaunchError(f"cannot issue the aggregator's certificate: {exc}") from exc
    return key_file, cert_file
