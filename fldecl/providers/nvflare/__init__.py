"""The ``nvflare`` backend: the stack's trainings on NVIDIA FLARE, its parties as NVFlare client sites.

One resource type per kind it serves: ``RemoteTrainingSystem`` is a client site with its startup
kit (:mod:`.sites`), ``Training`` an NVFlare job running fldecl's round workflow (:mod:`.trainings`).
Models are stored on disk as on the local backend (the provider is handed that resource type and
where it keeps a model's content), and the stack's lock is the local one: one machine applies.
The server's and the admin's kits and processes belong to the deployment (:mod:`.deployment`),
made with the first site and stopped with the last. NVFlare itself is imported only where a kit
is built or the server is reached.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from fldecl.core.contract import Backend, ProviderContext, ResourceType
from fldecl.core.errors import ProviderError
from fldecl.kinds.model import MODEL
from fldecl.kinds.training_run import PartyRun
from fldecl.providers.nvflare import sites, trainings  # noqa: F401  (each registers its kind)
from fldecl.providers.nvflare.deployment import Deployment
from fldecl.providers.nvflare.resources import ModelContent, NvflareResources
from fldecl.providers.nvflare.settings import NvflareSettings
from fldecl.providers.store import ResourceStore


class NvflareProvider:
    def __init__(self, state_dir: Path, block: dict[str, Any] | None, models: ResourceType, model_content: ModelContent,
                 lock_holder: Backend) -> None:
        self.deployment = Deployment(state_dir, NvflareSettings.from_block(block))
        self.store = ResourceStore(state_dir / "nvflare.db")
        self._lock_holder = lock_holder
        self.resources: dict[str, ResourceType] = {
            MODEL.name: models,
            **{kind: member(self.deployment, self.store, model_content) for kind, member in NvflareResources.registry.items()},
        }

    @property
    def calls(self) -> int:
        return self.store.queries

    def lock(self, operation: str, timeout: float, ctx: ProviderContext) -> AbstractContextManager[None]:
        return self._lock_holder.lock(operation, timeout, ctx)

    def force_unlock(self, lock_id: str, ctx: ProviderContext) -> str:
        return self._lock_holder.force_unlock(lock_id, ctx)

    def run_party(self, run: PartyRun, ctx: ProviderContext) -> None:
        """Run the party's NVFlare site from its kit in the foreground (``fldecl party run``), until it is stopped.

        A party whose certificate was issued from its CSR gives its own key (``--key-file``), which goes
        into the kit's ``startup/client.key``, owner-only.
        """
        site = str(run.rts.document.get("site") or "")
        kit = self.deployment.kit_dir(site)
        if not site or not (kit / "startup" / "fed_client.json").is_file():
            raise ProviderError(f"{run.rts.address} has no NVFlare kit on this machine ({kit}); run `fldecl apply` first, "
                                "or put the kit its consortium gave it there")
        self.deployment.run_site(site, run.key_file)
