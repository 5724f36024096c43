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
from typing import Any, cast

from fldecl.core.contract import Backend, ProviderContext, ResourceType
from fldecl.core.errors import ProviderError
from fldecl.kinds.model import MODEL
from fldecl.kinds.training import PARTY_KIND, TRAINING
from fldecl.kinds.training_run import PartyKit, PartyRun
from fldecl.providers.nvflare import sites, trainings  # noqa: F401  (each registers its kind)
from fldecl.providers.nvflare.deployment import Deployment
from fldecl.providers.nvflare.resources import ModelContent, NvflareResources
from fldecl.providers.nvflare.settings import NvflareSettings
from fldecl.providers.nvflare.trainings import Trainings
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

    def outputs(self, ctx: ProviderContext) -> dict[str, str]:
        """The server's and the admin's kit directories (``fldecl output``: ``nvflare.server_kit``, ``nvflare.admin_kit``),
        while the stack has sites; each site's is its own output (``RemoteTrainingSystem/NAME.kit``)."""
        if not self.store.list(PARTY_KIND, ctx.owner_tag):
            return {}
        kits = {"server_kit": self.deployment.kit_dir(self.deployment.settings.server_name), "admin_kit": self.deployment.admin_kit}
        return {name: str(kit) for name, kit in kits.items() if kit.is_dir()}

    def trained_model(self, training_id: str, ctx: ProviderContext) -> bytes:
        """A ``source: training`` Model's content: the final model a party of that job saved at its site."""
        return cast(Trainings, self.resources[TRAINING.name]).trained_model(training_id)

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

    def party_kit(self, run: PartyRun, party_dir: Path, ctx: ProviderContext) -> PartyKit:
        """Not offered: an NVFlare site joins with its startup kit, not with settings for a party runtime; says which kit to ship."""
        site = str(run.rts.document.get("site") or "")
        kit = self.deployment.kit_dir(site)
        if not site or not kit.is_dir():
            raise ProviderError(f"{run.rts.address} has no NVFlare kit yet; run `fldecl apply` first")
        keeps_key = not (kit / "startup" / "client.key").is_file()
        raise ProviderError(f"`fldecl party config` is not offered on nvflare: {run.rts.name} joins as NVFlare site {site} with its "
                            f"startup kit {kit}. Hand that folder to the organisation that runs it"
                            + (", which adds its own key as startup/client.key" if keeps_key else " (it holds the party's key)")
                            + f"; it starts the site with startup/start.sh, or here with: fldecl party run {run.rts.name} "
                            f"--training {run.training.name}")
