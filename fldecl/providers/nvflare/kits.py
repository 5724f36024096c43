"""Startup kits in NVIDIA FLARE's own layout, built from the stack's PKI.

NVFlare's provisioner (``nvflare.lighter``) writes a kit per participant: ``startup/`` with the
participant's certificate and key, ``rootCA.pem``, ``fed_server.json`` / ``fed_client.json`` /
``fed_admin.json`` and ``start.sh``, and ``local/`` for site settings. fldecl runs that
provisioner with its own workspace and static-file builders, and replaces only its certificate
builder: the certificates are the stack's (the CA's, each party's), never ones NVFlare makes, so
every kit chains to the consortium's CA and a party whose certificate came from its CSR keeps its
key (its kit is built without ``client.key``; the party puts its own key there).

Building a kit needs no CA private key: the server's and the admin's certificates are issued by
:mod:`fldecl.providers.nvflare.deployment` beforehand, like any other certificate of the stack.

Each kit is recorded as it was built (:class:`BuiltKit`: the digests of the files it was built
from and of the files it holds), so that a plan tells when it must be rebuilt, and why
(:func:`rebuild_reason`): a certificate renewed, the CA changed, the server moved, a kit file missing or edited.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fldecl.core.errors import ProviderError

PROJECT_NAME = "fldecl"
SERVER, CLIENT, ADMIN = "server", "client", "admin"
#: The certificate and key names NVFlare's scripts read in a kit's startup/ folder.
_KIT_FILE_BASENAME = {SERVER: "server", CLIENT: "client", ADMIN: "client"}
CA_FILE = "rootCA.pem"
#: fldecl's NVFlare app (its Controller and Executor): allowed on every site, like NVFlare's own components.
APP_COMPONENTS = "fldecl.providers.nvflare.app"
#: The folders of a kit that building it writes; NVFlare writes its logs, pid files and jobs' workspaces beside them.
KIT_FOLDERS = ("startup", "local")

#: What a kit is built from, by role; the reason a plan gives when one of them changed since the kit was built.
CERTIFICATE, AUTHORITY, SERVER_IDENTITY, ADMIN_IDENTITY = "certificate", "ca", "server certificate", "admin certificate"
SOURCE_CHANGED = {CERTIFICATE: "its certificate changed", AUTHORITY: "the CA changed",
                  SERVER_IDENTITY: "the server's certificate changed", ADMIN_IDENTITY: "the admin's certificate changed"}
#: Why a kit that was never built is: a plan says it is built, not rebuilt.
NOT_BUILT = "not built yet"


@dataclass(frozen=True)
class ServerAddress:
    """Where the NVFlare server listens: clients connect to ``host:fed_learn_port``, admins to ``host:admin_port``."""

    name: str
    host: str
    fed_learn_port: int
    admin_port: int

    def describe(self) -> str:
        return f"{self.host}:{self.fed_learn_port}, admin port {self.admin_port}"


@dataclass(frozen=True)
class KitParticipant:
    """One participant's identity: its name (its certificate's CN), its organisation, its certificate and key files.

    ``key_file`` is None for a party that keeps its key (its certificate was issued from its CSR).
    ``role`` is an admin user's role (``project_admin``), which its certificate carries too.
    """

    kind: str
    name: str
    org: str
    cert_file: Path
    key_file: Path | None
    role: str | None = None


def build_kit(participant: KitParticipant, server: ServerAddress, ca_cert_file: Path, destination: Path) -> Path:
    """Write ``participant``'s startup kit into ``destination`` (replaced whole, never half-written); returns it."""
    from nvflare.lighter.provisioner import Provisioner  # lazy: NVFlare is imported only where a kit is built

    with tempfile.TemporaryDirectory(prefix=".kit-", dir=destination.parent if destination.parent.is_dir() else None) as scratch:
        project = _project(participant, server)
        provisioner = Provisioner(scratch, _builders(participant, ca_cert_file))
        logger = _QuietLogger()
        context = provisioner.provision(project, logger=logger)
        produced = context.get("current_prod_dir")
        if context.get("__build_error__") or not produced:
            raise ProviderError(f"NVFlare could not build the startup kit of {participant.name}: "
                                f"{'; '.join(logger.errors) or 'the provisioner failed'}")
        destination.parent.mkdir(parents=True, exist_ok=True)
        staged = Path(scratch) / "staged"
        shutil.move(str(Path(produced) / participant.name), staged)
        _write_site_resources(participant.kind, staged, destination)
        if destination.exists():
            shutil.rmtree(destination)
        staged.rename(destination)
    return destination


@dataclass(frozen=True)
class BuiltKit:
    """A kit as it was built, recorded with it: where it is, the files it was built from (by role, with their
    SHA-256 then), the SHA-256 of each file its build wrote under ``startup/`` and ``local/``, and the server's
    address it points at (:meth:`ServerAddress.describe`; empty in records made before fldecl kept it)."""

    path: str
    sources: dict[str, tuple[str, str]]
    files: dict[str, str]
    address: str = ""

    @classmethod
    def of(cls, kit: Path, sources: Mapping[str, Path], address: ServerAddress) -> BuiltKit:
        """The kit just built at ``kit`` from ``sources``, for the server at ``address``."""
        return cls(str(kit), {role: (str(path), file_digest(path) or "") for role, path in sources.items()}, _kit_files(kit),
                   address.describe())

    @classmethod
    def from_dict(cls, data: Any) -> BuiltKit | None:
        """The record :meth:`to_dict` made, or None (no record: a kit never built, or built before fldecl recorded kits)."""
        if not isinstance(data, dict) or not {"path", "sources", "files"} <= set(data):
            return None
        return cls(str(data["path"]), {role: (str(pair[0]), str(pair[1])) for role, pair in data["sources"].items()},
                   dict(data["files"]), str(data.get("address", "")))

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sources": {role: list(pair) for role, pair in self.sources.items()}, "files": self.files,
                "address": self.address}

    def source_files(self) -> dict[str, Path]:
        return {role: Path(file) for role, (file, _) in self.sources.items()}


def rebuild_reason(built: BuiltKit | None, kit: Path, sources: Mapping[str, Path], renewed: Mapping[str, str] | None = None,
                   expected: Mapping[str, tuple[bytes, str]] | None = None, address: ServerAddress | None = None) -> str | None:
    """Why the kit at ``kit`` must be built (:data:`NOT_BUILT`) or rebuilt, or None when it is as it should be.

    ``sources`` are the files it is built from now, by role; ``renewed``, the roles whose file the same apply
    makes anew first, with why; ``expected``, files the build writes from what fldecl computes (a site's party
    settings), by path in the kit: their content now, and the reason when the recorded one differs; ``address``,
    where the server listens now (every kit names it).
    """
    if built is None:
        return NOT_BUILT if not kit.is_dir() else "fldecl has no record of its build"
    if not kit.is_dir():
        return "its folder is missing"
    renewed = renewed or {}
    changed = [renewed[role] if role in renewed else SOURCE_CHANGED[role] for role, path in sources.items()
               if role in renewed or built.sources.get(role, ("", ""))[1] != file_digest(path)]
    if address is not None and built.address and built.address != address.describe():
        changed.append(f"the server's address changed ({built.address} -> {address.describe()})")
    if changed:
        return "; ".join(changed)
    stale = [why for name, (content, why) in (expected or {}).items() if built.files.get(name) != hashlib.sha256(content).hexdigest()]
    if stale:
        return "; ".join(dict.fromkeys(stale))
    missing = [name for name in built.files if not (kit / name).is_file()]
    edited = [name for name, digest in built.files.items() if name not in missing and file_digest(kit / name) != digest]
    problems = ([f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing"] if missing else []) + \
               ([f"{', '.join(edited)} {'was' if len(edited) == 1 else 'were'} edited"] if edited else [])
    return "; ".join(problems) or None


def _kit_files(kit: Path) -> dict[str, str]:
    return {str(path.relative_to(kit)): file_digest(path) or "" for folder in KIT_FOLDERS for path in sorted((kit / folder).rglob("*"))
            if path.is_file()}


def file_digest(path: Path) -> str | None:
    """A file's SHA-256 (hex), or None when it cannot be read."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _write_site_resources(kind: str, kit: Path, final_location: Path) -> None:
    """``local/resources.json``: NVFlare's defaults, with fldecl's app allowed and the server's job store inside its kit.

    (NVFlare's default store is ``/tmp/nvflare``, which every server on the machine would share.)
    """
    import json

    defaults = kit / "local" / "resources.json.default"
    if kind == ADMIN or not defaults.is_file():
        return
    resources = json.loads(defaults.read_text())
    resources["class_allow_list"] = [*resources.get("class_allow_list", []), APP_COMPONENTS]
    if kind == SERVER:
        storage = final_location.resolve() / "storage"
        resources["snapshot_persistor"]["args"]["storage"]["args"]["root_dir"] = str(storage / "snapshots")
        for component in resources.get("components", []):
            if component.get("id") == "job_manager":
                component["args"]["uri_root"] = str(storage / "jobs")
    (kit / "local" / "resources.json").write_text(json.dumps(resources, indent=2))


def _project(participant: KitParticipant, server: ServerAddress) -> Any:
    """NVFlare's project with the server (clients and admins need its address) and ``participant``."""
    from nvflare.lighter.provision import prepare_project

    server_def = {"name": server.name, "type": SERVER, "org": participant.org if participant.kind == SERVER else PROJECT_NAME,
                  "fed_learn_port": server.fed_learn_port, "admin_port": server.admin_port, "default_host": server.host,
                  "host_names": sorted({server.host, server.name})}
    definitions = [server_def]
    if participant.kind != SERVER:
        definition: dict[str, Any] = {"name": participant.name, "type": participant.kind, "org": participant.org}
        if participant.role:
            definition["role"] = participant.role
        definitions.append(definition)
    return prepare_project({"api_version": 3, "name": PROJECT_NAME, "description": "provisioned by fldecl",
                            "participants": definitions})


def _builders(participant: KitParticipant, ca_cert_file: Path) -> list[Any]:
    from nvflare.lighter.impl.static_file import StaticFileBuilder
    from nvflare.lighter.impl.workspace import WorkspaceBuilder

    return [WorkspaceBuilder(), StaticFileBuilder(config_folder="config"), _stack_certificates(participant, ca_cert_file)]


def _stack_certificates(participant: KitParticipant, ca_cert_file: Path) -> Any:
    """NVFlare's certificate builder, with the stack's certificates in place of ones it would generate."""
    from nvflare.lighter.spec import Builder

    class StackCertificates(Builder):  # type: ignore[misc]
        def build(self, project: Any, ctx: Any) -> None:
            for entity in project.get_all_participants():
                if entity.name != participant.name:
                    continue
                kit_dir = Path(ctx.get_kit_dir(entity))
                base = _KIT_FILE_BASENAME[participant.kind]
                shutil.copyfile(participant.cert_file, kit_dir / f"{base}.crt")
                if participant.key_file is not None:
                    copy_private(participant.key_file, kit_dir / f"{base}.key")
                shutil.copyfile(ca_cert_file, kit_dir / CA_FILE)

    return StackCertificates()


def copy_private(source: Path, target: Path) -> None:
    """A private key, written owner-only from its first byte."""

    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(source.read_bytes())


class _QuietLogger:
    """NVFlare's provisioner prints by default; fldecl keeps its errors for its own message."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def debug(self, message: str) -> None:
        pass

    def info(self, message: str) -> None:
        pass

    def warning(self, message: str) -> None:
        pass

    def error(self, message: str) -> None:
        self.errors.append(message)
