"""``RemoteTrainingSystem`` on NVFlare: a client site, its startup kit, and (``launch: auto``) its process.

A site's name is its certificate's common name: NVFlare admits a client whose certificate, from
the project's CA, names it. Creating a site builds its kit from the party's certificate (and key,
unless the party keeps it: a CSR party adds its own ``startup/client.key``), builds the server's
and the admin's kits first if they are missing, starts what runs on this machine and waits until
the site has connected. A plan reads, in one admin call, which sites are connected; a site this
machine should run whose process is gone (or whose server is) is updated in place, which starts it again
and leaves the trainings that name it alone. A plan says when a site it would create is in this deployment
under another stack's name (a renamed stack's, say), and ``fldecl import`` takes it over, its kit and process as they are.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from fldecl.core.contract import (
    AdoptRequest,
    CreateRequest,
    DeleteRequest,
    Desired,
    Observed,
    ProviderContext,
    ReadRequest,
    SameNameRequest,
    Unowned,
    UpdateRequest,
)
from fldecl.core.errors import ProviderError
from fldecl.kinds.training import PARTY_KIND
from fldecl.launch.parties import PartyIdentity, party_identity, party_settings, runs_here
from fldecl.providers.nvflare.deployment import Authority
from fldecl.providers.nvflare.resources import NvflareResources
from fldecl.providers.store import Record

CONNECTED, KNOWN, NOT_RUNNING = "connected", "known (not connected)", "not running"


class Sites(NvflareResources):
    kind = PARTY_KIND

    def read(self, request: ReadRequest, ctx: ProviderContext) -> list[Observed]:
        records = self.store.list(self.kind, request.tag)
        connected = self.deployment.connected_sites() if records else set()
        return [self._observe(record, connected) for record in records]

    def create(self, request: CreateRequest, ctx: ProviderContext) -> Observed:
        desired = request.desired
        identity = _identity(desired)
        site = self.start_site(identity, ctx)
        record = self.store.insert(self.kind, desired.name, desired.tags, desired.attributes,
                                   entity={"site": site, "kit": str(self.deployment.kit_dir(site)), "launch": _launch(identity)})
        return self._observe(record, {site} if _launch(identity) == "auto" else self.deployment.connected_sites())

    def update(self, request: UpdateRequest, ctx: ProviderContext) -> Observed:
        current, desired = request.current, request.desired
        identity = _identity(desired)
        if current.document.get("site") != site_name(identity, ctx.stack_dir):
            self._stop_site(current)
        site = self.start_site(identity, ctx, restart=True)
        record = self.store.update(current.id, name=desired.name, attributes=desired.attributes,
                                   entity={"site": site, "kit": str(self.deployment.kit_dir(site)), "launch": _launch(identity)})
        return self._observe(record, self.deployment.connected_sites())

    def delete(self, request: DeleteRequest, ctx: ProviderContext) -> None:
        self._stop_site(request.current)
        self.store.delete(request.current.id)
        if not self.store.list(self.kind, ctx.owner_tag):
            self.stop_server()

    def same_name(self, request: SameNameRequest, ctx: ProviderContext) -> list[Unowned]:
        """Sites recorded in this deployment without the stack's tag under names a plan would create: the plan names them and the import."""
        return self.store.same_name(self.kind, request.names, ctx.owner_tag)

    def adopt(self, request: AdoptRequest, ctx: ProviderContext) -> Observed:
        """Tag the site's record and take it under the manifest's name; its kit and process stay, for the next plan to compare."""
        record = self.store.adopt(request.resource_id, request.desired, "nvflare")
        return self._observe(record, self.deployment.connected_sites())

    # The deployment ------------------------------------------------------------------------------------------------------

    def start_site(self, identity: PartyIdentity, ctx: ProviderContext, restart: bool = False) -> str:
        """Build the site's kit (and the server's, first); start the site here unless it is ``launch: manual``."""
        authority = identity.authority.attributes
        ca = Authority(ctx.stack_dir / authority["key_file"], ctx.stack_dir / authority["cert_file"])
        self.ensure_server(ca, ctx)
        site = site_name(identity, ctx.stack_dir)
        key = identity.certificate.attributes.get("key_file")
        if restart:
            self.deployment.stop(site)
        key_file = ctx.stack_dir / key if key else self.deployment.kit_dir(site) / "startup" / "client.key"
        settings = asdict(party_settings(identity, ctx.stack_dir, key_file))
        self.deployment.build_client_kit(site, identity.cert_file(ctx.stack_dir), ctx.stack_dir / key if key else None, ca.cert_file,
                                         settings)
        if runs_here(identity.rts) and key:
            self.deployment.start(site)
            self.deployment.wait_for_site(site)
        else:
            ctx.reporter.progress(identity.rts.address, f"the kit of site {site} is {self.deployment.kit_dir(site)}: its organisation "
                                                        "starts it there with startup/start.sh" +
                                                        ("" if key else ", after adding its own key as startup/client.key"))
        return site

    def ensure_server(self, authority: Authority, ctx: ProviderContext) -> None:
        """The server's and the admin's kits, and (``launch: auto``) the server running; once, whatever the parallelism."""
        with self.deployment.server_lock:
            server = self.deployment.settings.server_name
            rebuilt = self.deployment.ensure_server_kits(authority)
            if not self.deployment.settings.launch_server:
                return
            if rebuilt:
                self.deployment.stop(server)
            if not self.deployment.running(server):
                ctx.reporter.progress("nvflare", f"starting the NVFlare server {server} (kit {self.deployment.kit_dir(server)})")
                self.deployment.start(server)
                self.deployment.wait_for_server()

    def stop_server(self) -> None:
        if self.deployment.settings.launch_server:
            self.deployment.stop(self.deployment.settings.server_name)

    def _stop_site(self, current: Observed) -> None:
        site = current.document.get("site")
        if site:
            self.deployment.stop(site)
            self.deployment.remove_kit(site)

    def _observe(self, record: Record, connected: set[str] | None) -> Observed:
        site = record.entity.get("site", "")
        observed = record.observed(document={**record.entity})
        if connected is None:
            observed.status = "server unreachable"
            if self.deployment.server_stopped():
                observed.status = "server not running"
                observed.update_reason = "the NVFlare server is not running; apply starts it again"
        elif site in connected:
            observed.status = CONNECTED
        elif record.entity.get("launch") == "auto" and not self.deployment.running(site):
            observed.status = NOT_RUNNING
            observed.update_reason = f"the process of site {site} is not running; apply starts it again"
        else:
            observed.status = KNOWN
        return observed


def site_name(identity: PartyIdentity, stack_dir: Path) -> str:
    """The NVFlare site name: the common name of the party's certificate."""
    from cryptography.x509.oid import NameOID

    from fldecl import pki  # lazy: cryptography only where a site is made

    certificate = pki.load_certificate(identity.cert_file(stack_dir))
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        raise ProviderError(f"{identity.certificate.address} has no common name, which NVFlare uses as the site's name")
    return str(names[0].value)


def _identity(desired: Desired) -> PartyIdentity:
    rts = Observed(desired.kind, desired.name, "", desired.tags, desired.attributes)
    return party_identity(rts, {obs.id: obs for obs in desired.dependencies.values()})


def _launch(identity: PartyIdentity) -> str:
    return "auto" if runs_here(identity.rts) else "manual"
