"""``Model`` on WML: a zip built as the local backend builds it, or the result of a completed training.

WML has no field for a model's source and content hash; they travel in its ``custom``. A model
stored from a training is tagged after WML stores it (WML's call takes no tags), so an
interrupted create is recognised by the training it came from.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fldecl.core.contract import Desired, Found, Observed, ProviderContext
from fldecl.core.errors import NotFoundError, ProviderError
from fldecl.kinds.model import MODEL
from fldecl.models import ModelError, build_zip, stored_content_hash
from fldecl.providers.wml import mapping
from fldecl.providers.wml.connection import WmlSession
from fldecl.providers.wml.resources import Document, TaggableResources
from fldecl.providers.wml.rest import RestReads
from fldecl.providers.wml.specs import Specifications
from fldecl.providers.wml.trainings import Trainings


class Models(TaggableResources):
    kind = MODEL.name
    collection = "/ml/v4/models"

    def __init__(self, session: WmlSession, specs: Specifications, reads: RestReads) -> None:
        super().__init__(session, specs, reads)
        self.trainings = Trainings(session, specs, reads)  # a model stored from a training waits for it to complete

    def list_documents(self, client: Any, tag: str) -> list[Document]:
        return list(client.repository.get_model_details(get_all=True)["resources"])

    def get_document(self, client: Any, resource_id: str) -> Document:
        return dict(client.repository.get_model_details(resource_id))

    def update_document(self, client: Any, resource_id: str, changes: dict[str, Any]) -> Document:
        return dict(client.repository.update_model(resource_id, changes))

    def delete_document(self, client: Any, resource_id: str) -> None:
        client.repository.delete(resource_id)

    def attributes(self, document: Document) -> dict[str, Any]:
        return mapping.model_attributes(document)

    def found(self, document: Document, ctx: ProviderContext) -> Found:
        """A model the search found, its spec by name, with its stored content to write beside its manifest."""
        found = super().found(document, ctx)
        found.observed.attributes = self.specs.named(found.observed.attributes)
        with contextlib.suppress(NotFoundError):  # no content stored: the manifest cannot say where it comes from
            found.content = self.download(found.observed.id, f"reading the content of the model {found.observed.name!r}")
        return found

    def make(self, desired: Desired, ctx: ProviderContext) -> Document:
        meta = self._meta(desired)
        if "training" in desired.attributes["source"]:
            training_id = self.trainings.completed(desired.attributes["source"]["training"], desired.address, ctx)
            stored = {key: meta[key] for key in ("name", "type", "software_spec")}
            with self.may_create(desired):
                made = self.session.call(lambda client: client.repository.store_model(training_id, meta_props=stored),
                                         f"storing the model of training {training_id}")
                return self._label(made, meta, desired)
        with _model_zip(desired, ctx) as path, self.may_create(desired):
            return self.session.call(lambda client: client.repository.store_model(str(path), meta_props=meta),
                                     f"creating {desired.address}")

    def complete(self, document: Document, desired: Desired, ctx: ProviderContext) -> Document:
        """Finish a model an interrupted create made: its labels, or its content (the upload may not have run)."""
        if "training" in desired.attributes["source"]:
            return self._label(document, self._meta(desired), desired)
        model_id = document["metadata"]["id"]
        with _model_zip(desired, ctx) as path:
            return self.session.retried(
                lambda client: client.repository.update_model(model_id, {"tags": desired.tags}, update_model=str(path)),
                f"uploading the content of {desired.address}")

    def recovered(self, document: Document, desired: Desired) -> bool:
        """A model WML stored from the desired training but that was not tagged yet (tags come after)."""
        training_id = desired.attributes.get("source", {}).get("training")
        entity = document.get("entity") or {}
        return bool(training_id) and not document["metadata"].get("tags") and entity.get("training_id") == training_id

    def changes(self, current: Observed, desired: Desired) -> dict[str, Any]:
        meta = self._meta(desired, custom=current.document.get("custom"))
        return {"name": desired.backend_name, "description": meta.get("description", ""), "custom": meta["custom"]}

    def verified_extras(self, document: Document, desired: Desired, ctx: ProviderContext) -> dict[str, Any]:
        """The manifest's name for the model's spec, if it names the one WML holds (WML holds it by id only), and
        what the stored content is in the manifest's terms, so that an imported model plans as what it is."""
        entity = document.get("entity") or {}
        extras: dict[str, Any] = {}
        declared = self.specs.resolve("software_spec", desired.attributes["software_spec"])
        if declared["id"] == (entity.get("software_spec") or {}).get("id"):
            extras["software_spec"] = declared
        if "training" not in desired.attributes["source"]:  # a stored training result has no content hash to compare
            extras.update(self._content_facts(document["metadata"]["id"], desired, ctx))
        return extras

    def _content_facts(self, model_id: str, desired: Desired, ctx: ProviderContext) -> dict[str, Any]:
        """The stored content's hash; with the declared source and model file when it is the content the manifest declares.

        Hashed once, here, and recorded: plans compare the record and never download a model.
        """
        try:
            content = self.download(model_id, f"reading the content of {desired.address}")
        except NotFoundError:
            return {}  # WML holds no content for it (its upload never finished): the plan shows the content as missing
        stored = stored_content_hash(desired.attributes, content, ctx.stack_dir)
        if stored != desired.attributes.get("content_hash"):
            return {"content_hash": stored}
        return {key: desired.attributes[key] for key in ("source", "content_hash", "model_file", "trusted") if key in desired.attributes}

    def download(self, model_id: str, what: str) -> bytes:
        """A stored model's content, through the client's own download into a private temporary file."""
        with tempfile.TemporaryDirectory(prefix="fldecl-model-") as directory:
            path = Path(directory) / "content.zip"
            self.session.retried(lambda client: client.repository.download(model_id, filename=str(path)), what)
            return path.read_bytes()

    def _label(self, document: Document, meta: dict[str, Any], desired: Desired) -> Document:
        """Tags, description and fldecl's fields, which WML does not take when it stores a trained model."""
        labels = {key: meta[key] for key in ("tags", "description", "custom") if key in meta}
        model_id = document["metadata"]["id"]
        return self.session.call(lambda client: client.repository.update_model(model_id, labels), f"tagging {desired.address}")

    def _meta(self, desired: Desired, custom: dict[str, Any] | None = None) -> dict[str, Any]:
        spec = self.specs.resolve("software_spec", desired.attributes["software_spec"])
        return mapping.model_meta(desired, spec["id"], custom)


@contextmanager
def _model_zip(desired: Desired, ctx: ProviderContext) -> Iterator[Path]:
    """The model's zip, built as the local backend builds it, in a private temporary file."""
    try:
        content = build_zip(desired.attributes, ctx.stack_dir)
    except ModelError as exc:
        raise ProviderError(f"{desired.address}: {exc}") from exc
    with tempfile.TemporaryDirectory(prefix="fldecl-model-") as directory:
        path = Path(directory) / f"{desired.name}.zip"
        path.write_bytes(content)
        yield path
