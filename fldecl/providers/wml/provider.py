"""The ``wml`` backend's provider: the contract of :mod:`fldecl.providers.base` on IBM WML.

A read lists each kind once, following pages, and keeps what carries the stack's ownership tag
(the client filters only trainings by tag; models and RTSs are filtered here). A create carries
the tags in the create call itself. Rate limits, 5xx and dropped connections become
:class:`TransientError` for the core's backoff, and a create that may have reached WML before its
answer was lost is looked up by tag and name before it is sent again, so a retry never makes a
duplicate.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fldecl.providers.base import Desired, NotFoundError, Observed, ProviderContext, ProviderError, TransientError
from fldecl.providers.wml import mapping
from fldecl.providers.wml.connection import Credentials, WmlSession

Document = dict[str, Any]

TERMINAL_STATES = ("completed", "failed", "canceled", "error")
REPLACED_STATES = ("failed", "canceled", "error")
FIRST_POLL_SECONDS, MAX_POLL_SECONDS = 0.5, 10.0
SPEC_COLLECTIONS = {"software_spec": "software_specifications", "hardware_spec": "hardware_specifications"}

_LISTS: dict[str, Callable[[Any, str], list[Document]]] = {
    "Model": lambda client, tag: client.repository.get_model_details(get_all=True)["resources"],
    "RemoteTrainingSystem": lambda client, tag: client.remote_training_systems.get_details(get_all=True)["resources"],
    "Training": lambda client, tag: client.training.get_details(get_all=True, tag_value=tag)["resources"],
}
_ATTRIBUTES: dict[str, Callable[[Document], dict[str, Any]]] = {
    "Model": mapping.model_attributes,
    "RemoteTrainingSystem": mapping.rts_attributes,
    "Training": mapping.training_attributes,
}


class WmlProvider:
    kinds = frozenset(_LISTS)

    def __init__(self, session: WmlSession) -> None:
        self.session = session
        self._lock = threading.Lock()
        self._unsure: set[str] = set()
        self._spec_ids: dict[tuple[str, str], str] = {}

    @classmethod
    def from_environment(cls, state_dir: Path, options: Mapping[str, Any]) -> WmlProvider:
        """Credentials come from the ``WML_*`` variables only. WML keeps all state, so the stack's
        state directory and the CLI's options have nothing to give this backend."""
        return cls(WmlSession(Credentials.from_environment(os.environ)))

    # The contract

    def read(self, kind: str, ctx: ProviderContext) -> list[Observed]:
        return [self._observe(kind, document) for document in self._owned(kind, ctx)]

    def create(self, desired: Desired, ctx: ProviderContext) -> Observed:
        with self._lock:
            unsure = desired.address in self._unsure
        document = self._recover(desired, ctx) if unsure else None
        if document is None:
            document = _CREATORS[desired.kind](self, desired, ctx)
        with self._lock:
            self._unsure.discard(desired.address)
        if desired.kind == "Training":
            return self._started(document, desired, ctx)
        return self._observe(desired.kind, document)

    def update(self, current: Observed, desired: Desired, changed: list[str], ctx: ProviderContext) -> Observed:
        if desired.kind == "Training":
            raise ProviderError("a training cannot change in place; it is replaced")
        changes = (self._model_changes if desired.kind == "Model" else self._rts_changes)(current, desired)
        document = self.session.call(lambda client: _UPDATES[desired.kind](client, current.id, changes),
                                     f"updating {desired.address}")
        return self._observe(desired.kind, document)

    def delete(self, current: Observed, ctx: ProviderContext) -> None:
        try:
            self.session.call(lambda client: _DELETES[current.kind](client, current.id), f"deleting {current.address}")
        except NotFoundError:
            pass  # gone already: an earlier attempt whose answer was lost

    def adopt(self, resource_id: str, desired: Desired, ctx: ProviderContext) -> Observed:
        """Add the stack's tags (and the declared name) to a model or RTS made elsewhere, e.g. by the notebook."""
        if desired.kind == "Training":
            raise ProviderError("WML cannot add tags to an existing training, so it cannot be imported; "
                                "let `fldecl apply` start the training instead")
        try:
            document = self.session.retried(lambda client: _GETS[desired.kind](client, resource_id),
                                            f"reading {desired.kind} {resource_id}")
        except NotFoundError:
            raise NotFoundError(f"no {desired.kind} with id {resource_id} in {self.session.credentials.scope_variable}") from None
        held = list(document["metadata"].get("tags") or [])
        changes = {"name": desired.name, "tags": held + [tag for tag in desired.tags if tag not in held]}
        if desired.kind == "Model":
            changes.update(self._declared_spec_record(document, desired))
        document = self.session.retried(lambda client: _UPDATES[desired.kind](client, resource_id, changes),
                                        f"tagging {desired.kind} {resource_id}")
        return self._observe(desired.kind, document)

    def _declared_spec_record(self, document: Document, desired: Desired) -> dict[str, Any]:
        """A ``custom`` change noting the manifest's name for the model's spec, if it names the one WML holds.

        Without it an imported model would show its spec, held by id only, as a difference.
        """
        entity = document.get("entity") or {}
        declared = self._spec("software_spec", desired.attributes["software_spec"])
        if declared["id"] != (entity.get("software_spec") or {}).get("id"):
            return {}
        return {"custom": mapping.custom_with(entity.get("custom"), {**mapping.extras_of(entity), "software_spec": declared})}

    # Reading

    def _owned(self, kind: str, ctx: ProviderContext) -> list[Document]:
        documents = self.session.retried(lambda client: _LISTS[kind](client, ctx.owner_tag), f"listing {kind} resources")
        return [document for document in documents if ctx.owner_tag in (document["metadata"].get("tags") or [])]

    def _observe(self, kind: str, document: Document) -> Observed:
        metadata = document["metadata"]
        observed = Observed(kind=kind, name=metadata.get("name") or "", id=metadata["id"],
                            tags=list(metadata.get("tags") or []), attributes=_ATTRIBUTES[kind](document),
                            created_at=metadata.get("created_at"), updated_at=metadata.get("modified_at"),
                            details=document.get("entity") or {})
        if kind == "Training":
            state, reason = mapping.training_state(document)
            observed.status = _training_label(document)
            observed.replace_reason = f"training {state}: {reason}" if state in REPLACED_STATES else None
            observed.details = _training_details(document)
        return observed

    # Creating, so that a retry never duplicates

    @contextmanager
    def _may_create(self, desired: Desired) -> Iterator[None]:
        """Around a call that creates: if its outcome is unknown, the next attempt looks first."""
        try:
            yield
        except TransientError:
            with self._lock:
                self._unsure.add(desired.address)
            raise

    def _recover(self, desired: Desired, ctx: ProviderContext) -> Document | None:
        """What an earlier attempt at this create left (completed now), or None if it left nothing."""
        documents = self.session.retried(lambda client: _LISTS[desired.kind](client, ctx.owner_tag),
                                         f"looking for {desired.address} after an interrupted create")
        made = [document for document in documents if document["metadata"].get("name") == desired.name
                and (ctx.owner_tag in (document["metadata"].get("tags") or []) or _unlabelled_from(document, desired))]
        if not made:
            return None
        ctx.reporter.progress(desired.address, f"found {made[0]['metadata']['id']} from an interrupted attempt; completing it")
        if desired.kind == "Model":
            return self._complete_model(made[0], desired, ctx)
        return made[0]

    def _create_rts(self, desired: Desired, ctx: ProviderContext) -> Document:
        meta = mapping.rts_meta(desired.name, desired.attributes, desired.tags)
        with self._may_create(desired):
            return self.session.call(lambda client: client.remote_training_systems.store(meta),
                                     f"creating {desired.address}")

    def _create_model(self, desired: Desired, ctx: ProviderContext) -> Document:
        meta = self._model_meta(desired)
        if "training" in desired.attributes["source"]:
            training_id = self._completed_training(desired, ctx)
            stored = {key: meta[key] for key in ("name", "type", "software_spec")}
            with self._may_create(desired):
                made = self.session.call(lambda client: client.repository.store_model(training_id, meta_props=stored),
                                         f"storing the model of training {training_id}")
                return self._label_model(made, meta, desired)
        with _model_zip(desired, ctx) as path, self._may_create(desired):
            return self.session.call(lambda client: client.repository.store_model(str(path), meta_props=meta),
                                     f"creating {desired.address}")

    def _complete_model(self, document: Document, desired: Desired, ctx: ProviderContext) -> Document:
        """Finish a model an interrupted create made: its labels, or its content (the upload may not have run)."""
        meta = self._model_meta(desired)
        if "training" in desired.attributes["source"]:
            return self._label_model(document, meta, desired)
        model_id = document["metadata"]["id"]
        with _model_zip(desired, ctx) as path:
            return self.session.retried(
                lambda client: client.repository.update_model(model_id, {"tags": desired.tags}, update_model=str(path)),
                f"uploading the content of {desired.address}")

    def _label_model(self, document: Document, meta: dict[str, Any], desired: Desired) -> Document:
        """Tags, description and fldecl's fields, which WML does not take when it stores a trained model."""
        labels = {key: meta[key] for key in ("tags", "description", "custom") if key in meta}
        model_id = document["metadata"]["id"]
        return self.session.call(lambda client: client.repository.update_model(model_id, labels),
                                 f"tagging {desired.address}")

    def _model_meta(self, desired: Desired, custom: dict[str, Any] | None = None) -> dict[str, Any]:
        spec = self._spec("software_spec", desired.attributes["software_spec"])
        return mapping.model_meta(desired.name, desired.attributes, desired.tags, spec["id"], custom)

    def _create_training(self, desired: Desired, ctx: ProviderContext) -> Document:
        model_id = desired.attributes["model"]
        model = next((obs for obs in desired.dependencies.values() if obs.id == model_id), None)
        if model is None:
            raise ProviderError(f"{desired.address}: its model {model_id} is not known to this apply")
        specs = {field: self._spec(field, desired.attributes[field]) for field in mapping.SPEC_FIELDS
                 if field in desired.attributes}
        body = mapping.training_body(desired.name, desired.attributes, desired.tags, model, specs)
        with self._may_create(desired):
            return self.session.call(lambda client: _start_training(client, body), f"creating {desired.address}")

    # Trainings in progress

    def _started(self, document: Document, desired: Desired, ctx: ProviderContext) -> Observed:
        training_id = document["metadata"]["id"]
        if not ctx.wait:
            ctx.reporter.progress(desired.address, f"started (id {training_id}); follow it with `fldecl show`")
            return self._observe("Training", document)
        try:
            document = self._follow(training_id, desired.address, ctx)
        except TransientError as exc:
            raise ProviderError(f"{desired.address} started (id {training_id}) but following it failed: {exc}; "
                                "`fldecl show` reports its state") from exc
        state, reason = mapping.training_state(document)
        if state != "completed":
            raise ProviderError(f"training {state}: {reason}")
        return self._observe("Training", document)

    def _follow(self, training_id: str, address: str, ctx: ProviderContext) -> Document:
        """Poll a training until it ends, reporting each new state and round (polls slow down over time)."""
        reported, delay = "", FIRST_POLL_SECONDS
        while True:
            document = self.session.retried(lambda client: client.training.get_details(training_id, _internal=True),
                                            f"following {address}")
            state, reason = mapping.training_state(document)
            label = _training_label(document)
            if label != reported:
                reported = label
                if state == "accepting_parties":
                    label += f"; parties join with: fldecl party run RTS_NAME --training {document['metadata'].get('name')}"
                elif state in REPLACED_STATES:
                    label += f": {reason}"
                ctx.reporter.progress(address, label)
            if state in TERMINAL_STATES:
                return document
            time.sleep(delay)
            delay = min(MAX_POLL_SECONDS, delay * 1.5)

    def _completed_training(self, desired: Desired, ctx: ProviderContext) -> str:
        """The id of the training whose model ``desired`` stores, once that training has completed."""
        training_id = desired.attributes["source"]["training"]
        document = self.session.retried(lambda client: client.training.get_details(training_id, _internal=True),
                                        f"reading training {training_id}")
        state, _ = mapping.training_state(document)
        if state not in TERMINAL_STATES and ctx.wait:
            state, _ = mapping.training_state(self._follow(training_id, desired.address, ctx))
        if state != "completed":
            raise ProviderError(f"training {training_id} is {state}; its model can be stored once it has completed")
        return training_id

    # Updating

    def _model_changes(self, current: Observed, desired: Desired) -> dict[str, Any]:
        meta = self._model_meta(desired, custom=current.details.get("custom"))
        return {"name": desired.name, "description": meta.get("description", ""), "custom": meta["custom"]}

    def _rts_changes(self, current: Observed, desired: Desired) -> dict[str, Any]:
        removed = [key for key in ("organization", "remote_admin") if key in current.attributes and key not in desired.attributes]
        if removed:
            raise ProviderError(f"WML cannot remove {' and '.join(removed)} from a remote training system; "
                                f"replace it instead: fldecl apply --replace {desired.address}")
        changes = mapping.rts_meta(desired.name, desired.attributes, desired.tags, custom=current.details.get("custom"))
        del changes["tags"]
        changes.setdefault("description", "")
        return changes

    def _spec(self, field: str, spec: dict[str, Any]) -> dict[str, Any]:
        """A software/hardware spec as WML takes it: ``{id}``, plus the name when the manifest gave one."""
        if "id" in spec:
            return {"id": spec["id"]}
        collection, name = SPEC_COLLECTIONS[field], spec["name"]
        with self._lock:
            spec_id = self._spec_ids.get((collection, name))
        if spec_id is None:
            label = field.replace("_", " ").replace("spec", "specification")
            spec_id = self.session.retried(lambda client: _spec_id(getattr(client, collection), name, label),
                                           f"looking up the {label} {name!r}")
            with self._lock:
                self._spec_ids[(collection, name)] = spec_id
        return {"id": spec_id, "name": name}


def _spec_id(specifications: Any, name: str, label: str) -> str:
    found = specifications.get_id_by_name(name)
    if found is None:  # the hardware lookup answers None for any failed request
        raise TransientError(f"looking up the {label} {name!r} failed")
    if found == "Not Found":
        raise ProviderError(f"there is no {label} named {name!r} on WML")
    return found


def _start_training(client: Any, body: dict[str, Any]) -> Document:
    """POST the training as ``training.run`` does, plus ``custom``, which ``run``'s meta names leave out."""
    from ibm_watson_machine_learning._wrappers import requests as client_http

    scope = {"space_id": client.default_space_id} if client.default_space_id else {"project_id": client.default_project_id}
    params = {key: value for key, value in client._params().items() if key not in ("space_id", "project_id", "userfs")}
    response = client_http.post(client.service_instance._href_definitions.get_trainings_href(),
                                json={**body, **scope}, params=params, headers=client._get_headers())
    return client.training._handle_response(201, "training", response)


def _unlabelled_from(document: Document, desired: Desired) -> bool:
    """A model WML stored from the desired training but that was not tagged yet (tags come after)."""
    training_id = desired.attributes.get("source", {}).get("training")
    entity = document.get("entity") or {}
    return bool(training_id) and not document["metadata"].get("tags") and entity.get("training_id") == training_id


@contextmanager
def _model_zip(desired: Desired, ctx: ProviderContext) -> Iterator[Path]:
    """The model's zip, built as the local backend builds it, in a private temporary file."""
    from fldecl.models import ModelError, build_zip

    try:
        content = build_zip(desired.attributes, ctx.stack_dir)
    except ModelError as exc:
        raise ProviderError(f"{desired.address}: {exc}") from exc
    with tempfile.TemporaryDirectory(prefix="fldecl-model-") as directory:
        path = Path(directory) / f"{desired.name}.zip"
        path.write_bytes(content)
        yield path


def _training_details(document: Document) -> dict[str, Any]:
    """What ``fldecl show`` prints for a training, in the local backend's shape."""
    state, reason = mapping.training_state(document)
    status = (document.get("entity") or {}).get("status") or {}
    aggregator = ((status.get("federated_learning_info") or {}).get("aggregator") or {}).get("connection")
    return {"state": state, "reason": reason, "rounds": mapping.training_rounds(document), "aggregator": aggregator}


def _training_label(document: Document) -> str:
    state, _ = mapping.training_state(document)
    entity = document.get("entity") or {}
    rounds = (entity.get("federated_learning") or {}).get("rounds")
    iteration = (entity.get("status") or {}).get("iteration") or 0
    return f"{state} ({iteration}/{rounds} rounds)" if rounds else state


_CREATORS: dict[str, Callable[[WmlProvider, Desired, ProviderContext], Document]] = {
    "Model": WmlProvider._create_model,
    "RemoteTrainingSystem": WmlProvider._create_rts,
    "Training": WmlProvider._create_training,
}
_GETS: dict[str, Callable[[Any, str], Document]] = {
    "Model": lambda client, model_id: client.repository.get_model_details(model_id),
    "RemoteTrainingSystem": lambda client, rts_id: client.remote_training_systems.get_details(rts_id),
}
_UPDATES: dict[str, Callable[[Any, str, dict[str, Any]], Document]] = {
    "Model": lambda client, model_id, changes: client.repository.update_model(model_id, changes),
    "RemoteTrainingSystem": lambda client, rts_id, changes: client.remote_training_systems.update(rts_id, changes),
}
_DELETES: dict[str, Callable[[Any, str], Any]] = {
    "Model": lambda client, model_id: client.repository.delete(model_id),
    "RemoteTrainingSystem": lambda client, rts_id: client.remote_training_systems.delete(rts_id),
    "Training": lambda client, training_id: client.training.cancel(training_id, hard_delete=True),
}
