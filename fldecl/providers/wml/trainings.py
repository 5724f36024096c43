"""``Training`` on WML: the aggregator, started with the parties' ids and followed to its end.

WML cannot add tags to a training after it starts, so a training can be neither updated nor
imported; a failed or canceled one is planned for replacement.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from typing import Any

from fldecl.core.contract import AdoptRequest, Desired, Found, Observed, ProviderContext, ReadRequest, UpdateRequest
from fldecl.core.errors import ProviderError, TransientError
from fldecl.interrupt import Interrupted, pause
from fldecl.kinds.training import TRAINING
from fldecl.kinds.training_run import Endpoint, LogFile, RoundRecord, TrainingProgress, progress_of, report_rounds
from fldecl.providers.wml import mapping
from fldecl.providers.wml.party_runtime import BYTES_FILE
from fldecl.providers.wml.resources import Document, WmlResources
from fldecl.vocabulary import ACCEPTING_PARTIES, COMPLETED, REPLACED_STATES, TERMINAL_STATES

FIRST_POLL_SECONDS, MAX_POLL_SECONDS = 0.5, 10.0
IMPORT_REFUSAL = "WML cannot add tags to an existing training, so it cannot be imported"


class Trainings(WmlResources):
    kind = TRAINING.name
    collection = "/ml/v4/trainings"

    def read(self, request: ReadRequest, ctx: ProviderContext) -> list[Observed]:
        """The stack's trainings; each one with rounds gets its metrics plot, as on the local backend."""
        return [_with_plot(training, ctx) for training in super().read(request, ctx)]

    def list_documents(self, client: Any, tag: str) -> list[Document]:
        return list(client.training.get_details(get_all=True, tag_value=tag)["resources"])

    def get_document(self, client: Any, resource_id: str) -> Document:
        return dict(client.training.get_details(resource_id, _internal=True))

    def delete_document(self, client: Any, resource_id: str) -> None:
        client.training.cancel(resource_id, hard_delete=True)

    def found(self, document: Document, ctx: ProviderContext) -> Found:
        """A training is read for what it names (its model and parties) and written for reference: it cannot be imported."""
        found = super().found(document, ctx)
        found.observed.attributes = self.specs.named(found.observed.attributes)
        found.why_not_importable = IMPORT_REFUSAL
        return found

    def attributes(self, document: Document) -> dict[str, Any]:
        return mapping.training_attributes(document)

    def observe(self, document: Document, ctx: ProviderContext) -> Observed:
        observed = super().observe(document, ctx)
        state, reason = mapping.training_state(document)
        observed.status = _label(document)
        observed.replace_reason = f"training {state}: {reason}" if state in REPLACED_STATES else None
        observed.details = _progress(document)
        return _with_party_bytes(observed, ctx)

    def make(self, desired: Desired, ctx: ProviderContext) -> Document:
        model_id = desired.attributes["model"]
        model = desired.dependency(model_id)
        if model is None:
            raise ProviderError(f"{desired.address}: its model {model_id} is not known to this apply")
        specs = {field: self.specs.resolve(field, desired.attributes[field])
                 for field in mapping.SPEC_FIELDS if field in desired.attributes}
        body = mapping.training_body(desired, model, specs)
        with self.may_create(desired):
            return self.session.call(lambda client: _start_training(client, body), f"creating {desired.address}")

    def created(self, document: Document, desired: Desired, ctx: ProviderContext) -> Observed:
        training_id = document["metadata"]["id"]
        if not ctx.wait:
            ctx.reporter.progress(desired.address, f"started (id {training_id}); follow it with `fldecl logs {desired.name} --follow`")
            return self.observe(document, ctx)
        try:
            document = self.follow(training_id, desired.address, ctx)
        except TransientError as exc:
            raise ProviderError(f"{desired.address} started (id {training_id}) but following it failed: {exc}; "
                                "`fldecl show` reports its state") from exc
        state, reason = mapping.training_state(document)
        finished = _with_plot(self.observe(document, ctx), ctx)  # the plot is there when the training ends
        if state != COMPLETED:
            raise ProviderError(f"training {state}: {reason}")
        return finished

    def update(self, request: UpdateRequest, ctx: ProviderContext) -> Observed:
        raise ProviderError("a training cannot change in place; it is replaced")

    def adopt(self, request: AdoptRequest, ctx: ProviderContext) -> Observed:
        """Refused, with why: ``fldecl import`` of a training is a question WML answers no to."""
        raise ProviderError(f"{IMPORT_REFUSAL}; let `fldecl apply` start the training instead")

    def log_files(self, current: Observed, ctx: ProviderContext) -> list[LogFile]:
        """The logs of the parties that `fldecl party run` ran on this machine (WML does not hand out its aggregator's)."""
        return [LogFile(path.parent.parent.name, path) for path in sorted((ctx.state_dir / "parties").glob(f"*/{current.id}/party.log"))]

    def get(self, training_id: str, what: str) -> Document:
        return self.session.retried(lambda client: self.get_document(client, training_id), what)

    def follow(self, training_id: str, address: str, ctx: ProviderContext) -> Document:
        """Poll a training until it ends, reporting each new state and round (polls slow down over time).

        Ctrl-C stops following at once; the training goes on on WML, and the line says how to follow or cancel it."""
        try:
            return self._follow(training_id, address, ctx)
        except Interrupted:
            name = address.split("/", 1)[1]
            ctx.reporter.progress(address, f"stopped following it; the training (id {training_id}) goes on on WML. "
                                           f"Follow it with `fldecl logs {name} --follow`, or cancel it with "
                                           f"`fldecl destroy --target {address}`")
            raise

    def _follow(self, training_id: str, address: str, ctx: ProviderContext) -> Document:
        reported, delay = "", FIRST_POLL_SECONDS
        while True:
            document = self.get(training_id, f"following {address}")
            state, reason = mapping.training_state(document)
            label = _label(document)
            if label != reported:
                reported = label
                report_rounds(ctx.reporter, address, *mapping.training_iterations(document))
                if state == ACCEPTING_PARTIES:
                    label += f"; parties join with: fldecl party run RTS_NAME --training {address.split('/', 1)[1]}"
                elif state in REPLACED_STATES:
                    label += f": {reason}"
                ctx.reporter.progress(address, label)
            if state in TERMINAL_STATES:
                return document
            pause(delay)
            delay = min(MAX_POLL_SECONDS, delay * 1.5)

    def completed(self, training_id: str, address: str, ctx: ProviderContext) -> str:
        """``training_id`` once that training has completed (followed to its end unless ``--no-wait``)."""
        document = self.get(training_id, f"reading training {training_id}")
        state, _ = mapping.training_state(document)
        if state not in TERMINAL_STATES and ctx.wait:
            state, _ = mapping.training_state(self.follow(training_id, address, ctx))
        if state != COMPLETED:
            raise ProviderError(f"training {training_id} is {state}; its model can be stored once it has completed")
        return training_id


def _start_training(client: Any, body: dict[str, Any]) -> Document:
    """POST the training as ``training.run`` does, plus ``custom``, which ``run``'s meta names leave out."""
    from ibm_watson_machine_learning._wrappers import requests as client_http  # lazy: IBM's client, imported on sign-in

    scope = {"space_id": client.default_space_id} if client.default_space_id else {"project_id": client.default_project_id}
    params = {key: value for key, value in client._params().items() if key not in ("space_id", "project_id", "userfs")}
    response = client_http.post(client.service_instance._href_definitions.get_trainings_href(),
                                json={**body, **scope}, params=params, headers=client._get_headers())
    return dict(client.training._handle_response(201, "training", response))


def _progress(document: Document) -> TrainingProgress:
    """What ``fldecl show`` prints for a training, in the local backend's shape."""
    state, reason = mapping.training_state(document)
    status = (document.get("entity") or {}).get("status") or {}
    connection = ((status.get("federated_learning_info") or {}).get("aggregator") or {}).get("connection") or {}
    aggregator = Endpoint(connection["host"], int(connection["port"])) if connection.get("host") and connection.get("port") else None
    return TrainingProgress(state, reason, tuple(mapping.training_rounds(document)), aggregator)


def _with_party_bytes(training: Observed, ctx: ProviderContext) -> Observed:
    """The training, with the bytes each party that `fldecl party run` ran here sent and received per round (its
    ``bytes.json``, counted on its websocket): WML does not report them."""
    progress = progress_of(training)
    if progress is None or not progress.rounds:
        return training
    names = mapping.party_names({"entity": training.document})
    measured: dict[str, dict[int, tuple[int, int]]] = {}
    for path in (ctx.state_dir / "parties").glob(f"*/{training.id}/{BYTES_FILE}"):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            counted = json.loads(path.read_text())
            measured[names.get(counted["rts_id"], path.parent.parent.name)] = {
                int(number): (int(values["sent"]), int(values["received"])) for number, values in counted["rounds"].items()}
    if not measured:
        return training

    def with_bytes(record: RoundRecord) -> RoundRecord:
        parties = {party: dataclasses.replace(values, bytes_sent=measured[party][record.round][0],
                                              bytes_received=measured[party][record.round][1])
                   if record.round in measured.get(party, {}) else values for party, values in record.parties.items()}
        return dataclasses.replace(record, parties=parties)

    training.details = dataclasses.replace(progress, rounds=tuple(map(with_bytes, progress.rounds)))
    return training


def _with_plot(training: Observed, ctx: ProviderContext) -> Observed:
    """The training, with ``metrics.png`` of its rounds (as on the local backend), redrawn only when a round or the state changed."""
    progress = progress_of(training)
    if progress is None or not progress.rounds:
        return training
    from fldecl.fl.plot import plot_metrics  # lazy: matplotlib, only for trainings with rounds

    directory = ctx.state_dir / "trainings" / training.id
    plot, stamp = directory / "metrics.png", directory / "metrics.stamp"
    drawn = f"{progress.state} {len(progress.rounds)}"
    if not (plot.is_file() and stamp.is_file() and stamp.read_text() == drawn):
        rounds = [{"round": record.round, "fused": record.fused,
                   "parties": {name: party.metrics for name, party in record.parties.items()}} for record in progress.rounds]
        plot_metrics(training.name, rounds, plot)
        stamp.write_text(drawn)
    training.details = dataclasses.replace(progress, plot=str(plot))
    return training


def _label(document: Document) -> str:
    state, _ = mapping.training_state(document)
    iteration, rounds = mapping.training_iterations(document)
    return f"{state} ({iteration}/{rounds} rounds)" if rounds else state
