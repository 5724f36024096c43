"""``Model`` on the local backend: a record, and the model's zip beside it (0600).

A create writes the content first and the record last, so a record never promises content that
is not there. A note of the create (``<id>.pending.json``) is written before the content and
removed once the record is in: a create that a crash or a full disk interrupted is found by the
next plan, with what it left, and planned for repair with the reason.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from fldecl import models
from fldecl.atomic_write import write_atomically
from fldecl.core.contract import CreateRequest, DeleteRequest, Desired, Observed, ProviderContext, ReadRequest, UpdateRequest
from fldecl.core.errors import ProviderError
from fldecl.kinds.model import MODEL
from fldecl.models import ModelError
from fldecl.providers.local import trainings
from fldecl.providers.local.paths import model_content_path, pending_create_path
from fldecl.providers.local.records import LocalRecords, entity
from fldecl.providers.store import Record


class Models(LocalRecords):
    kind = MODEL.name

    def read(self, request: ReadRequest, ctx: ProviderContext) -> list[Observed]:
        owned = super().read(request, ctx)
        recorded = {obs.id for obs in owned}
        return owned + [obs for obs in self._interrupted_creates(recorded) if request.tag in obs.tags]

    def create(self, request: CreateRequest, ctx: ProviderContext) -> Observed:
        desired = request.desired
        source = desired.attributes["source"]
        if "training" in source:
            content = trainings.trained_model(self.store, source["training"], ctx)
        else:
            try:
                content = models.build_zip(desired.attributes, ctx.stack_dir)
            except ModelError as exc:
                raise ProviderError(f"{desired.address}: {exc}") from exc
        held = _entity(desired, content_sha256=hashlib.sha256(content).hexdigest(), content_bytes=len(content))
        model_id = str(uuid.uuid4())
        pending = pending_create_path(self.state_dir, model_id)
        try:
            write_atomically(pending, json.dumps({"name": desired.name, "tags": desired.tags, "attributes": desired.attributes,
                                               "entity": held}).encode())
            write_atomically(model_content_path(self.state_dir, model_id), content)
        except OSError as exc:
            self._remove_files(model_id)
            raise ProviderError(f"cannot store the content of {desired.address} in {self.state_dir / 'models'}: "
                                f"{exc.strerror or exc}") from exc
        if self._content_problem(model_id, held) is not None:
            self._remove_files(model_id)
            raise ProviderError(f"the content of {desired.address} did not reach {self.state_dir / 'models'} intact")
        record = self.store.insert(self.kind, desired.name, desired.tags, desired.attributes, entity=held, record_id=model_id)
        pending.unlink(missing_ok=True)
        return record.observed()

    def update(self, request: UpdateRequest, ctx: ProviderContext) -> Observed:
        desired = request.desired
        held = {**request.current.document, **_entity(desired)}
        return self.store.update(request.current.id, name=desired.name, attributes=desired.attributes, entity=held).observed()

    def delete(self, request: DeleteRequest, ctx: ProviderContext) -> None:
        super().delete(request, ctx)
        self._remove_files(request.current.id)

    def observe(self, record: Record, ctx: ProviderContext) -> Observed:
        observed = super().observe(record, ctx)
        problem = self._content_problem(record.id, record.entity)
        if problem is not None:
            observed.status, observed.replace_reason = "content missing", f"{problem}; apply stores it again"
        return observed

    def _content_problem(self, model_id: str, held: dict[str, Any]) -> str | None:
        """Why the content of ``model_id`` is not the content its record holds, if it is not."""
        path = model_content_path(self.state_dir, model_id)
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except FileNotFoundError:
            return f"its content {path} is missing"
        if digest != held.get("content_sha256"):
            return f"its content {path} differs from what was stored"
        return None

    def _interrupted_creates(self, recorded: set[str]) -> list[Observed]:
        """Creates whose content or record never landed: what they left, to be removed and made again."""
        found = []
        for note in sorted((self.state_dir / "models").glob("*.pending.json")):
            model_id = note.name.removesuffix(".pending.json")
            if model_id in recorded:
                continue  # the record landed; only the note was left
            try:
                made = json.loads(note.read_text())
            except (OSError, ValueError):
                made = {}
            found.append(Observed(self.kind, str(made.get("name", model_id)), model_id, list(made.get("tags", [])),
                                  dict(made.get("attributes", {})), status="interrupted",
                                  replace_reason="an interrupted create left content without a record; apply removes it "
                                                 "and stores the model again"))
        return found

    def _remove_files(self, model_id: str) -> None:
        model_content_path(self.state_dir, model_id).unlink(missing_ok=True)
        pending_create_path(self.state_dir, model_id).unlink(missing_ok=True)


def _entity(desired: Desired, **fields: Any) -> dict[str, Any]:
    return entity(desired, type=desired.attributes["type"], software_spec=desired.attributes["software_spec"], **fields)
