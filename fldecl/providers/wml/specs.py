"""Software and hardware specifications: WML holds them by id, manifests may name them."""

from __future__ import annotations

import threading
from typing import Any

from fldecl.core.errors import ProviderError, TransientError
from fldecl.providers.wml.connection import WmlSession

_COLLECTIONS = {"software_spec": "software_specifications", "hardware_spec": "hardware_specifications"}


class Specifications:
    """Looks a specification's id up by name once per run, shared by the resource types' threads."""

    def __init__(self, session: WmlSession) -> None:
        self.session = session
        self._lock = threading.Lock()
        self._ids: dict[tuple[str, str], str] = {}

    def resolve(self, field: str, spec: dict[str, Any]) -> dict[str, Any]:
        """A software/hardware spec as WML takes it: ``{id}``, plus the name when the manifest gave one."""
        if "id" in spec:
            return {"id": spec["id"]}
        collection, name = _COLLECTIONS[field], spec["name"]
        with self._lock:
            spec_id = self._ids.get((collection, name))
        if spec_id is None:
            label = field.replace("_", " ").replace("spec", "specification")
            spec_id = self.session.retried(lambda client: _spec_id(getattr(client, collection), name, label),
                                           f"looking up the {label} {name!r}")
            with self._lock:
                self._ids[(collection, name)] = spec_id
        return {"id": spec_id, "name": name}


    def named(self, attributes: dict[str, Any]) -> dict[str, Any]:
        """``attributes`` with each spec held by id only written by its name, as a manifest names it."""
        return {**attributes, **{field: {"name": self.name_of(field, attributes[field]["id"])} for field in _COLLECTIONS
                                 if set(attributes.get(field) or {}) == {"id"}}}

    def name_of(self, field: str, spec_id: str) -> str:
        """The name of a software/hardware spec WML holds by id (remembered, so resolving it back costs nothing)."""
        collection = _COLLECTIONS[field]
        details = self.session.retried(lambda client: getattr(client, collection).get_details(spec_id),
                                       f"reading the {field.replace('_', ' ')} {spec_id}")
        name = str(details["metadata"]["name"])
        with self._lock:
            self._ids[(collection, name)] = spec_id
        return name


def _spec_id(specifications: Any, name: str, label: str) -> str:
    found = specifications.get_id_by_name(name)
    if found is None:  # the hardware lookup answers None for any failed request
        raise TransientError(f"looking up the {label} {name!r} failed")
    if found == "Not Found":
        raise ProviderError(f"there is no {label} named {name!r} on WML")
    return str(found)
