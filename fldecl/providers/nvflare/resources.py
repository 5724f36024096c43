"""What the nvflare backend's resource types share: the deployment, the store of its sites, where models are kept."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from fldecl.providers.family import ResourceFamily
from fldecl.providers.nvflare.deployment import Deployment
from fldecl.providers.store import ResourceStore

ModelContent = Callable[[str], Path]
"""Where the content of a stored Model is, by the model's id."""


class NvflareResources(ResourceFamily):
    """One kind on the nvflare backend. Members take ``(deployment, store, model_content)``."""

    registry: ClassVar[dict[str, type[Any]]] = {}

    def __init__(self, deployment: Deployment, store: ResourceStore, model_content: ModelContent) -> None:
        self.deployment = deployment
        self.store = store
        self.model_content = model_content
