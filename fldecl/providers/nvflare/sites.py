"""``RemoteTrainingSystem`` on NVFlare: a client site, its startup kit, and (``launch: auto``) its process.

A site's name is its certificate's common name: NVFlare admits a client whose certificate, from
the project's CA, names it. Creating a site builds its kit from the party's certificate (and key,
unless the party keeps it: a CSR party adds its own ``startup/client.key``), builds the server's
and the admin's kits first if they are missing, starts what runs on this machine and waits until
the site has connected. A plan reads, in one admin call, which sites are connected; a site this
machine should run whose process is gone (or whose server is) is updated in place, which starts it again
and leaves the trainings that name it alone. A plan says when a site it would create is in this deployment
under another stack's name (a renamed stack's, say), and ``fldecl import`` takes it over, its kit and process as they are.

Kits are planned like the sites they belong to (:class:`~fldecl.core.contract.Composite`): each
site's plan line says when its kit, and the server's and the admin's (built with the first site),
is built, rebuilt and why (its certificate or the CA renewed, its party's settings changed, a kit
file missing or edited), or removed; a kit out of date on disk makes its site's in-place update.
Apply rebuilds exactly those kits, and restarts a site or the server only when its kit was rebuilt
or its process is gone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fldecl.core.contract import (
    AdoptRequest,
    CreateRequest,
    DeleteRequest,
    Desired,
    Observed,
    PartChange,
    PartsRequest,
    PlannedChange,
    ProviderContext,
    ReadRequest,
    SameNameRequest,
    Unowned,
    UpdateRequest,
)
from fldecl.core.errors import ProviderError
from fldecl.kinds.certificates import CERTIFICATE_AUTHORITY, PARTY_CERTIFICATE
from fldecl.kinds.training import PARTY_KIND
from fldecl.launch.errors import LaunchError
from fldecl.launch.parties import PartyIdentity, party_identity, party_settings, runs_here
from fldecl.providers.nvflare.deployment import PARTY_SETTINGS_PATH, Authority, party_settings_content
from fldecl.providers.nvflare.kits import AUTHORITY, CERTIFICATE, NOT_BUILT, BuiltKit, rebuild_reason
from fldecl.providers.nvflare.resources import NvflareResources
from fldecl.providers.store import Record

CONNECTED, KNOWN, NOT_RUNNING = "connected", "known (not connected)", "not running"
#: A site record's account of how its kit was built (:class:`~fldecl.providers.nvflare.kits.BuiltKit`).
KIT_BUILD = "kit_build"
#: The roles of the kit sources a stack's resources are, by kind: a plan that makes one anew rebuilds the kits built from it.
_SOURCE_ROLES = {PARTY_CERTIFICATE.name: CERTIFICATE, CERTIFICATE_AUTHORITY.name: AUTHORITY}
_SOURCE_NAMES = {CERTIFICATE: "its certificate", AUTHORITY: "the CA"}


class Sites(NvflareResources):
    kind = PARTY_KIND

    def read(self, request: ReadRequest, ctx: ProviderContext) -> list[Observed]:
        records = self.store.list(self.kind, request.tag)
        connected = self.deployment.connected_sites() if records else set()
        observed = [self._observe(record, connected) for record in records]
        server_kits = self.deployment.server_kit_changes() if records else {}
        if server_kits:  # rebuilt by the first site's update: one update, not one per site
            _add_update_reason(observed[0], *(self._kit_reason(name, why) for name, why in server_kits.items()))
        return observed

    def create(self, request: CreateRequest, ctx: ProviderContext) -> Observed:
        desired = request.desired
        identity = _identity(desired)
        site, built = self.start_site(identity, ctx)
        record = self.store.insert(self.kind, desired.name, desired.tags, desired.attributes, entity=self._entity(site, identity, built))
        return self._observe(record, {site} if _launch(identity) == "auto" else self.deployment.connected_sites())

    def update(self, request: UpdateRequest, ctx: ProviderContext) -> Observed:
        current, desired = request.current, request.desired
        identity = _identity(desired)
        built = BuiltKit.from_dict(current.document.get(KIT_BUILD))
        if current.document.get("site") != site_name(identity, ctx.stack_dir):
            self._stop_site(current)
            built = None
        site, built = self.start_site(identity, ctx, built)
        record = self.store.update(current.id, name=desired.name, attributes=desired.attributes, entity=self._entity(site, identity, built))
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

    def part_changes(self, request: PartsRequest, ctx: ProviderContext) -> list[PartChange]:
        """The kits a change of a site builds, rebuilds or removes: the site's own, and the server's and the admin's
        where they are missing or out of date (whichever site apply changes first builds them)."""
        current_site = str(request.current.document.get("site") or "") if request.current else ""
        if request.desired is None:
            return [PartChange("delete", self._kit_label(current_site, ctx))] if current_site else []
        renewed = _renewals(request.dependencies)
        server_kits = self.deployment.server_kit_changes(ca_renewed=renewed.get(AUTHORITY))
        parts = [self._kit_part(name, why, ctx) for name, why in server_kits.items()]
        identity = _known_identity(request.desired)  # None while its certificate is made by the same apply
        site = _planned_site(request, identity, ctx) or current_site
        if current_site and current_site != site:
            parts.append(PartChange("delete", self._kit_label(current_site, ctx)))
        if request.change.action == "replace":
            why: str | None = "the site is made again"
        elif request.current is None or current_site != site:
            why = NOT_BUILT
        elif identity is None:
            why = "; ".join(renewed.values()) or "its certificate is made anew"
        else:
            why = self._site_kit_reason(site, BuiltKit.from_dict(request.current.document.get(KIT_BUILD)), identity, ctx, renewed)
        if why is not None:
            unnamed = f"the kit of the site {_certificate_of(request)} names, in {_shown(self.deployment.kits, ctx)}/"
            parts.append(self._kit_part(site, why, ctx) if site else PartChange("create", unnamed))
        return parts

    # The deployment ------------------------------------------------------------------------------------------------------

    def start_site(self, identity: PartyIdentity, ctx: ProviderContext, built: BuiltKit | None = None) -> tuple[str, BuiltKit]:
        """Build the site's kit (and the server's, first) where a plan says; start the site here unless it is
        ``launch: manual``, or it runs already from a kit that stays. Returns the site and how its kit was built."""
        authority = identity.authority.attributes
        ca = Authority(ctx.stack_dir / authority["key_file"], ctx.stack_dir / authority["cert_file"])
        self.ensure_server(ca, ctx)
        site = site_name(identity, ctx.stack_dir)
        key = identity.certificate.attributes.get("key_file")
        why = self._site_kit_reason(site, built, identity, ctx)
        here = runs_here(identity.rts) and bool(key)
        if why is not None or built is None:
            self.deployment.stop(site)
            built = self.deployment.build_client_kit(site, identity.cert_file(ctx.stack_dir), ctx.stack_dir / key if key else None,
                                                     ca.cert_file, self._settings(site, identity, ctx))
            handed = "" if here else ("; its organisation starts the site there with startup/start.sh" +
                                      ("" if key else ", after adding its own key as startup/client.key"))
            ctx.reporter.progress(identity.rts.address, self._kit_reason(site, why or NOT_BUILT, done=True) + handed)
        if here and not self.deployment.running(site):
            self.deployment.start(site)
            self.deployment.wait_for_site(site)
        return site, built

    def ensure_server(self, authority: Authority, ctx: ProviderContext) -> None:
        """The server's and the admin's kits, and (``launch: auto``) the server running; once, whatever the parallelism."""
        with self.deployment.server_lock:
            server = self.deployment.settings.server_name
            rebuilt = self.deployment.ensure_server_kits(authority)
            for name, why in rebuilt.items():
                ctx.reporter.progress("nvflare", self._kit_reason(name, why, done=True))
            if not self.deployment.settings.launch_server:
                return
            if server in rebuilt:
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
        observed = record.observed(document={**record.entity}, outputs={"kit": str(self.deployment.kit_dir(site))} if site else {})
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
        built = BuiltKit.from_dict(record.entity.get(KIT_BUILD))
        why = rebuild_reason(built, self.deployment.kit_dir(site), built.source_files() if built else {},
                             address=self.deployment.planned_address()) if site else None
        if why is not None:
            _add_update_reason(observed, self._kit_reason(site, why))
        return observed

    # Kits -------------------------------------------------------------------------------------------------------------

    def _settings(self, site: str, identity: PartyIdentity, ctx: ProviderContext) -> dict[str, Any]:
        """The settings of the party the site runs, as its kit holds them (a CSR party's key: the one it adds to its kit)."""
        key = identity.certificate.attributes.get("key_file")
        key_file = ctx.stack_dir / key if key else self.deployment.kit_dir(site) / "startup" / "client.key"
        return asdict(party_settings(identity, ctx.stack_dir, key_file))

    def _site_kit_reason(self, site: str, built: BuiltKit | None, identity: PartyIdentity, ctx: ProviderContext,
                         renewed: Mapping[str, str] | None = None) -> str | None:
        """Why the site's kit must be (re)built for ``identity``, or None: the one test both plan and apply make."""
        sources = self.deployment.client_kit_sources(identity.cert_file(ctx.stack_dir),
                                                     ctx.stack_dir / identity.authority.attributes["cert_file"])
        expected = {PARTY_SETTINGS_PATH: (party_settings_content(self._settings(site, identity, ctx)), "its party's settings changed")}
        return rebuild_reason(built, self.deployment.kit_dir(site), sources, renewed, expected, self.deployment.planned_address())

    def _entity(self, site: str, identity: PartyIdentity, built: BuiltKit) -> dict[str, Any]:
        return {"site": site, "kit": str(self.deployment.kit_dir(site)), "launch": _launch(identity), KIT_BUILD: built.to_dict()}

    def _kit_name(self, participant: str) -> str:
        settings = self.deployment.settings
        shared = {settings.server_name: "the server's kit", settings.admin: "the admin's kit"}
        return shared.get(participant, f"the kit of site {participant}")

    def _kit_label(self, participant: str, ctx: ProviderContext) -> str:
        return f"{self._kit_name(participant)} in {_shown(self.deployment.kit_dir(participant), ctx)}"

    def _kit_part(self, participant: str, why: str, ctx: ProviderContext) -> PartChange:
        """A kit's (re)build as a plan line shows it; a running participant restarts from a rebuilt kit."""
        if why == NOT_BUILT:
            shared = participant in (self.deployment.settings.server_name, self.deployment.settings.admin)
            return PartChange("create", self._kit_label(participant, ctx), "shared by every site" if shared else "")
        who = "the server" if participant == self.deployment.settings.server_name else "the site"
        restarts = participant != self.deployment.settings.admin and self.deployment.running(participant)
        return PartChange("update", self._kit_label(participant, ctx), why + (f"; {who} restarts from it" if restarts else ""))

    def _kit_reason(self, participant: str, why: str, done: bool = False) -> str:
        """A kit's (re)build in a sentence: the reason a plan gives for it, or (``done``) what apply did."""
        name = self._kit_name(participant)
        if done:
            built = f"{name} in {self.deployment.kit_dir(participant)}"
            return f"built {built}" if why == NOT_BUILT else f"rebuilt {built}: {why}"
        return f"{name} is built" if why == NOT_BUILT else f"{name} is rebuilt: {why}"


def site_name(identity: PartyIdentity, stack_dir: Path) -> str:
    """The NVFlare site name: the common name of the party's certificate."""
    from fldecl import pki  # lazy: cryptography only where a site is made

    name = _common_name(pki.load_certificate(identity.cert_file(stack_dir)).subject)
    if name is None:
        raise ProviderError(f"{identity.certificate.address} has no common name, which NVFlare uses as the site's name")
    return name


def _common_name(subject: Any) -> str | None:
    from cryptography.x509.oid import NameOID  # lazy: cryptography only where a site is named

    names = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


def _identity(desired: Desired) -> PartyIdentity:
    rts = Observed(desired.kind, desired.name, "", desired.tags, desired.attributes)
    return party_identity(rts, {obs.id: obs for obs in desired.dependencies.values()})


def _known_identity(desired: Desired) -> PartyIdentity | None:
    try:
        return _identity(desired)
    except LaunchError:
        return None


def _renewals(dependencies: Mapping[str, PlannedChange]) -> dict[str, str]:
    """The kit sources a plan makes anew (the party's certificate, the CA), by role, with why: the CA's first."""
    renewed = {}
    for address, planned in dependencies.items():
        role = _SOURCE_ROLES.get(address.split("/", 1)[0])
        if role and planned.action in ("create", "replace"):
            replaced = planned.action == "replace"
            renewed[role] = (f"{_SOURCE_NAMES[role]} is {'renewed' if replaced else 'made anew'} "
                             f"({address} will be {'replaced' if replaced else 'created'})")
    return dict(sorted(renewed.items(), key=lambda item: item[0] != AUTHORITY))


def _certificate_of(request: PartsRequest) -> str:
    """The address of the party certificate a planned site names (the same apply makes it)."""
    return next((address for address in request.dependencies if address.startswith(f"{PARTY_CERTIFICATE.name}/")), "its certificate")


def _planned_site(request: PartsRequest, identity: PartyIdentity | None, ctx: ProviderContext) -> str | None:
    """The site's name after the plan: its certificate's common name, as declared when the same apply makes the
    certificate (or in the party's CSR), else as its certificate file says; None when nothing says yet."""
    from fldecl import pki  # lazy: cryptography only where a plan names a site

    planned = request.dependencies.get(_certificate_of(request))
    try:
        if planned is not None and planned.after is not None:
            subject: Mapping[str, Any] = planned.after.get("subject") or {}
            if subject.get("common_name"):
                return str(subject["common_name"])
            if planned.after.get("csr_file"):
                return _common_name(pki.load_csr(ctx.stack_dir / str(planned.after["csr_file"])).subject)
        return site_name(identity, ctx.stack_dir) if identity is not None else None
    except (pki.PKIError, ProviderError):
        return None


def _shown(path: Path, ctx: ProviderContext) -> Path:
    """A path as a plan shows it: within the stack, relative to it."""
    return path.relative_to(ctx.stack_dir) if path.is_relative_to(ctx.stack_dir) else path


def _add_update_reason(observed: Observed, *reasons: str) -> None:
    observed.update_reason = "; ".join(([observed.update_reason] if observed.update_reason else []) + list(reasons))


def _launch(identity: PartyIdentity) -> str:
    return "auto" if runs_here(identity.rts) else "manual"
