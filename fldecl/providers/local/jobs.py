"""A federated training's job, built in one place for everything that starts a local run.

The local backend resolves a training from its resources' attributes; the WML emulator's real
runner resolves it from WML documents and the consortium's manifests. Both hand the same inputs
to :func:`training_job`, so both runs get the same hyperparameters, the same party settings and
an aggregator certificate issued the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fldecl.core.manifest import Declaration, Stack
from fldecl.providers.base import ProviderError

if TYPE_CHECKING:
    from fldecl.fl.job import PartySettings, TrainingJob

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
    from fldecl.fl.job import TrainingJob

    work_dir.mkdir(parents=True, exist_ok=True)
    aggregator_key, aggregator_cert = _issue_aggregator_certificate(name, authority, work_dir / "aggregator")
    remote = spec["remote_training"]
    return TrainingJob(
        training_id=training_id, name=name,
        model_zip=str(model.zip_file), model_file=model.model_file, model_type=model.model_type, trusted=model.trusted,
        fusion_type=spec["fusion_type"], cipher_spec=(spec.get("crypto") or {}).get("cipher_spec"),
        epochs=spec["epochs"], rounds=spec["rounds"], metrics=spec["metrics"], optimizer=spec.get("optimizer"),
        loss=spec.get("loss"), batch_size=spec["batch_size"], seed=spec["seed"],
        quorum=remote["quorum"], max_timeout=remote["max_timeout"],
        parties=[{"name": party.name, "required": party.required, "cert_file": party.cert_file} for party in parties],
        ca_cert_file=str(authority.cert_file), aggregator_cert_file=str(aggregator_cert),
        aggregator_key_file=str(aggregator_key), work_dir=str(work_dir),
        local_parties=[party.runs_here for party in parties if party.runs_here is not None],
    )


def trusted_model(model_spec: Mapping[str, Any]) -> bool:
    """A model fldecl builds from a declared architecture, or one a manifest marks trusted, may be unpickled."""
    return bool("architecture" in model_spec["source"] or model_spec.get("trusted"))


def settings_of(name: str, party: Mapping[str, Any], certificate: Mapping[str, Any], ca_cert_file: Path,
                stack_dir: Path) -> PartySettings:
    """A party's settings from its ``spec.party`` and its certificate's spec, paths resolved in the stack."""
    from fldecl.fl.job import PartySettings

    handler = party["data_handler"]
    return PartySettings(name, str(stack_dir / certificate["cert_file"]), str(stack_dir / certificate["key_file"]),
                         str(ca_cert_file), str(stack_dir / handler["path"]), handler["name"], handler.get("info", {}),
                         str(stack_dir))


def party_settings(stack: Stack, rts: Declaration) -> PartySettings:
    """The party's own settings, from the manifests: its key and certificate, the CA, its data handler."""
    certificate = party_certificate(stack, rts)
    if "key_file" not in certificate.spec:
        raise ProviderError(f"{certificate.address} signs a CSR: give the party's own key with its certificate to run it here")
    authority = party_authority(stack, rts)
    return settings_of(rts.name, rts.spec["party"], certificate.spec, stack.directory / authority.spec["cert_file"],
                       stack.directory)


def party_certificate(stack: Stack, rts: Declaration) -> Declaration:
    party = rts.spec.get("party")
    if not party:
        raise ProviderError(f"{rts.address} declares no party settings (spec.party: certificate and data_handler)")
    return declared(stack, f"PartyCertificate/{party['certificate']}")


def party_authority(stack: Stack, rts: Declaration) -> Declaration:
    """The CertificateAuthority that issued the party's certificate."""
    return declared(stack, f"CertificateAuthority/{party_certificate(stack, rts).spec['issuer']}")


def declared(stack: Stack, address: str) -> Declaration:
    if address not in stack.declarations:
        raise ProviderError(f"{address} is not declared in {stack.directory}")
    return stack.declarations[address]


def _issue_aggregator_certificate(training_name: str, authority: Authority, directory: Path) -> tuple[Path, Path]:
    """A short-lived server certificate from the CA, so parties accept the aggregator over mutual TLS."""
    from fldecl import pki

    key_file, cert_file = directory / "key.pem", directory / "cert.pem"
    try:
        pki.issue_certificate(authority.key_file, authority.cert_file, pki.Subject(common_name=f"aggregator {training_name}"),
                              list(AGGREGATOR_NAMES), AGGREGATOR_CERTIFICATE_DAYS, key_file, cert_file)
    except pki.PKIError as exc:
        raise ProviderError(f"cannot issue the aggregator's certificate: {exc}") from exc
    return key_file, cert_file
