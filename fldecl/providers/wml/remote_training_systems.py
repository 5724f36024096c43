"""``RemoteTrainingSystem`` on WML: one per party; the party's settings travel in its ``custom``."""

from __future__ import annotations

from typing import Any

from fldecl.core.contract import Desired, Observed, ProviderContext
from fldecl.core.errors import ProviderError
from fldecl.kinds.training import PARTY_KIND
from fldecl.providers.wml import mapping
from fldecl.providers.wml.resources import Document, TaggableResources


class RemoteTrainingSystems(TaggableResources):
    kind = PARTY_KIND
    collection = "/ml/v4/remote_training_systems"

    def list_documents(self, client: Any, tag: str) -> list[Document]:
        return list(client.remote_training_systems.get_details(get_all=True)["resources"])

    def get_document(self, client: Any, resource_id: str) -> Document:
        return dict(client.remote_training_systems.get_details(resource_id))

    def update_document(self, client: Any, resource_id: str, changes: dict[str, Any]) -> Document:
        return dict(client.remote_training_systems.update(resource_id, changes))

    def delete_document(self, client: Any, resource_id: str) -> None:
        client.remote_training_systems.delete(resource_id)

    def attributes(self, document: Document) -> dict[str, Any]:
        return mapping.rts_attributes(document)

    def make(self, desired: Desired, ctx: ProviderContext) -> Document:
        meta = mapping.rts_meta(desired)
        with self.may_create(desired):
            return self.session.call(lambda client: dict(client.remote_training_systems.store(meta)), f"creating {desired.address}")

    def changes(self, current: Observed, desired: Desired) -> dict[str, Any]:
        removed = [key for key in ("organization", "remote_admin") if key in current.attributes and key not in desired.attributes]
        if removed:
            raise ProviderError(f"WML cannot remove {' and '.join(removed)} from a remote training system; "
                                f"replace it instead: fldecl apply --replace {desired.address}")
        changes = mapping.rts_meta(desired, custom=current.document.get("custom"))
        del changes["tags"]
        changes.setdefault("description", "")
        return changes
