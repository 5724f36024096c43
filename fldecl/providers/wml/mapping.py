"""WML entities <-> fldecl attributes, both ways, for models, remote training systems and trainings.

Attributes take the local backend's shapes so both backends produce the same plans: references
are ids (a training's ``model``, its ``remote_training_systems[].name``), and ``name`` is the
resource's WML name. What WML has no field for travels in the resource's own ``custom`` object
under the ``fldecl`` key (a model's source and content hash, an RTS's party settings, a training's
batch size and seed), so it round-trips; so does the manifest name (``manifest_name``), which
identifies the resource to the stack whatever its WML name.
"""

from __future__ import annotations

from typing import Any

from fldecl.core.contract import NAME_ATTRIBUTE, Desired, Observed
from fldecl.kinds.training_run import PartyRound, RoundRecord
from fldecl.models import framework_of, model_file_of

CUSTOM_KEY = "fldecl"
MANIFEST_NAME = "manifest_name"
RTS_ENTITY_FIELDS = ("organization", "allowed_identities", "remote_admin")
FEDERATED_FIELDS = ("crypto", "epochs", "rounds", "metrics", "optimizer", "loss")
TRAINING_EXTRAS = ("batch_size", "seed")
SPEC_FIELDS = ("software_spec", "hardware_spec")
# The seed's results reference: WML keeps a training's results beside it in the project.
RESULTS_REFERENCE = {"type": "container", "name": "outputData", "connection": {}, "location": {"path": "."}}
# WML federated learning names a model's framework like this where fldecl's name differs.
FEDERATED_MODEL_TYPES = {"scikit-learn": "sklearn"}


def extras_of(entity: dict[str, Any]) -> dict[str, Any]:
    """The attributes fldecl stored in a resource's ``custom`` (the manifest name is not one)."""
    stored = (entity.get("custom") or {}).get(CUSTOM_KEY) or {}
    return {key: value for key, value in stored.items() if key != MANIFEST_NAME}


def manifest_name(document: dict[str, Any]) -> str:
    """The name the stack knows the resource by: recorded when fldecl made or adopted it, else its WML name."""
    stored = ((document.get("entity") or {}).get("custom") or {}).get(CUSTOM_KEY) or {}
    return str(stored.get(MANIFEST_NAME) or document["metadata"].get("name") or "")


def custom_with(existing: dict[str, Any] | None, extras: dict[str, Any], name: str) -> dict[str, Any]:
    """``existing`` custom values with fldecl's part replaced by ``extras`` and the manifest ``name`` (others' keys are kept)."""
    custom = {key: value for key, value in (existing or {}).items() if key != CUSTOM_KEY}
    custom[CUSTOM_KEY] = {**extras, MANIFEST_NAME: name}
    return custom


def declared_spec(held: dict[str, Any], recorded: dict[str, Any] | None = None) -> dict[str, Any]:
    """A software/hardware spec as the manifest wrote it.

    WML holds a spec's id; a manifest may name it instead. The name is shown while the name
    recorded at creation still stands for the id WML holds, so a spec changed behind fldecl's
    back shows up as a difference.
    """
    recorded = recorded or held
    if recorded.get("name") and recorded.get("id", held.get("id")) == held.get("id"):
        return {"name": recorded["name"]}
    return {"id": held["id"]} if held.get("id") else {"name": held.get("name")}


# Models


def model_meta(desired: Desired, software_spec_id: str, custom: dict[str, Any] | None = None) -> dict[str, Any]:
    """``store_model`` meta props: WML's fields, and the rest (source, content hash, ...) in ``custom``."""
    attributes = desired.attributes
    extras = {key: value for key, value in attributes.items() if key not in ("type", "description", "software_spec", NAME_ATTRIBUTE)}
    extras["software_spec"] = {**attributes["software_spec"], "id": software_spec_id}
    meta = {"name": desired.backend_name, "type": attributes["type"], "software_spec": software_spec_id, "tags": desired.tags,
            "custom": custom_with(custom, extras, desired.name)}
    if attributes.get("description"):
        meta["description"] = attributes["description"]
    return meta


def model_attributes(document: dict[str, Any]) -> dict[str, Any]:
    metadata, entity = document["metadata"], document.get("entity") or {}
    extras = extras_of(entity)
    attributes: dict[str, Any] = {
        NAME_ATTRIBUTE: metadata.get("name"),
        "type": entity.get("type"),
        "software_spec": declared_spec(entity.get("software_spec") or {}, extras.pop("software_spec", None)),
    }
    if metadata.get("description"):
        attributes["description"] = metadata["description"]
    attributes.update(extras)
    return attributes


# Remote training systems


def rts_meta(desired: Desired, custom: dict[str, Any] | None = None) -> dict[str, Any]:
    """``remote_training_systems.store``/``update`` meta props; the party settings go in ``custom``.

    WML requires ``allowed_identities``; a manifest without any sends an empty list.
    """
    attributes = desired.attributes
    meta: dict[str, Any] = {"name": desired.backend_name, "tags": desired.tags,
                            "allowed_identities": attributes.get("allowed_identities", [])}
    meta.update({key: attributes[key] for key in ("description", "organization", "remote_admin") if key in attributes})
    party = {"party": attributes["party"]} if "party" in attributes else {}
    meta["custom"] = custom_with(custom, party, desired.name)
    return meta


def rts_attributes(document: dict[str, Any]) -> dict[str, Any]:
    metadata, entity = document["metadata"], document.get("entity") or {}
    attributes: dict[str, Any] = {NAME_ATTRIBUTE: metadata.get("name")}
    if metadata.get("description"):
        attributes["description"] = metadata["description"]
    attributes.update({key: entity[key] for key in RTS_ENTITY_FIELDS if entity.get(key)})
    party = extras_of(entity).get("party")
    if party:
        attributes["party"] = party
    return attributes


# Trainings


def training_body(desired: Desired, model: Observed, specs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The seed's aggregator: ``federated_learning`` with crypto, quorum, timeout and the parties.

    ``specs`` are the software/hardware specs resolved to ``{id, name}``.
    """
    attributes = desired.attributes
    remote = attributes["remote_training"]
    framework = framework_of(model.attributes["type"])
    federated: dict[str, Any] = {
        "model": {"type": FEDERATED_MODEL_TYPES.get(framework, framework), "spec": {"id": model.id},
                  "model_file": model_file_of(model.attributes)},
        "fusion_type": attributes["fusion_type"],
        **{key: attributes[key] for key in FEDERATED_FIELDS if key in attributes},
        "remote_training": {
            "quorum": remote["quorum"], "max_timeout": remote["max_timeout"],
            "remote_training_systems": [{"id": item["name"], "required": item["required"]}
                                        for item in remote["remote_training_systems"]]},
        **specs,
    }
    body = {"name": desired.backend_name, "tags": desired.tags, "training_data_references": [], "results_reference": RESULTS_REFERENCE,
            "federated_learning": federated,
            "custom": custom_with(None, {key: attributes[key] for key in TRAINING_EXTRAS if key in attributes}, desired.name)}
    if attributes.get("description"):
        body["description"] = attributes["description"]
    return body


def training_attributes(document: dict[str, Any]) -> dict[str, Any]:
    metadata, entity = document["metadata"], document.get("entity") or {}
    federated = entity.get("federated_learning") or {}
    remote = federated.get("remote_training") or {}
    attributes: dict[str, Any] = {NAME_ATTRIBUTE: metadata.get("name"), "model": (federated.get("model") or {}).get("spec", {}).get("id"),
                                  "fusion_type": federated.get("fusion_type")}
    attributes.update({key: federated[key] for key in FEDERATED_FIELDS if key in federated})
    attributes["remote_training"] = {
        **{key: remote[key] for key in ("quorum", "max_timeout") if key in remote},
        "remote_training_systems": [{"name": item.get("id"), "required": bool(item.get("required", False))}
                                    for item in remote.get("remote_training_systems", [])]}
    attributes.update({key: declared_spec(federated[key]) for key in SPEC_FIELDS if federated.get(key)})
    attributes.update(extras_of(entity))
    if metadata.get("description"):
        attributes["description"] = metadata["description"]
    return attributes


def training_state(document: dict[str, Any]) -> tuple[str, str | None]:
    """The training's state and WML's explanation of it (the failure's, when it failed)."""
    status = (document.get("entity") or {}).get("status") or {}
    errors = (status.get("failure") or {}).get("errors") or []
    message = errors[0].get("message") if errors else (status.get("message") or {}).get("text")
    return status.get("state", "pending"), message


def training_iterations(document: dict[str, Any]) -> tuple[int, int]:
    """The rounds a training has completed and the rounds it runs (0 when WML does not say)."""
    entity = document.get("entity") or {}
    rounds = (entity.get("federated_learning") or {}).get("rounds") or 0
    return int((entity.get("status") or {}).get("iteration") or 0), int(rounds)


def party_names(document: dict[str, Any]) -> dict[str, str]:
    """The training's parties, by remote training system id: their names as WML reports them."""
    status = (document.get("entity") or {}).get("status") or {}
    states = ((status.get("federated_learning_info") or {}).get("remote_training_systems") or {}).get("states") or []
    return {state.get("id"): state.get("name") or state.get("id") for state in states}


def training_rounds(document: dict[str, Any]) -> list[RoundRecord]:
    """Per-round records: each party's score of the fused model (``fused_<metric>``) and their mean."""
    status = (document.get("entity") or {}).get("status") or {}
    names = party_names(document)
    rows: list[RoundRecord] = []
    for entry in status.get("metrics") or []:
        parties: dict[str, dict[str, float]] = {}
        fused: dict[str, float] = {}
        for metric, values in (entry.get("ml_federated_metrics") or {}).items():
            scores = {names.get(system.get("id"), system.get("id")): system["fused"]
                      for system in values.get("remote_training_systems") or [] if isinstance(system.get("fused"), (int, float))}
            for party, score in scores.items():
                parties.setdefault(party, {})[f"fused_{metric}"] = score
            if scores:
                fused[metric] = sum(scores.values()) / len(scores)
        rows.append(RoundRecord(int(entry.get("iteration") or len(rows) + 1), fused,
                                {party: PartyRound(metrics) for party, metrics in parties.items()}))
    return rows
