"""The NVFlare deployment of one stack: its participants' kits, their processes, and an admin session.

Everything lives in the stack's ``.fldecl/nvflare/``:

- ``identities/``: the server's and the admin's keys and certificates, issued from the stack's CA
  (RSA 4096, like every certificate of the stack); the parties' come from their PartyCertificates.
- ``kits/<participant>/``: each participant's startup kit in NVFlare's layout, which is also its
  workspace (NVFlare writes its pid files and logs there, as in its own POC mode). Hand a kit to
  the organisation that runs the participant; ``startup/start.sh`` starts it.
- ``run/<participant>.pgid``: the process group of a participant this machine started
  (``launch: auto``); ``logs/<participant>.log``: what its scripts print.
- ``deployment.json``: the ports chosen once (a declared port 0 is a free port, then kept), the
  fingerprint of the CA the server's and the admin's certificates were issued from, and how their
  kits were built (:class:`~fldecl.providers.nvflare.kits.BuiltKit`; a site's is in its record).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fldecl.core.errors import ProviderError
from fldecl.fl.files import write_json_atomically
from fldecl.interrupt import pause
from fldecl.providers.nvflare.app.messages import ADMIN_CERTIFICATE_FILE, PARTY_SETTINGS_FILE, SERVER_CERTIFICATE_FILE
from fldecl.providers.nvflare.kits import (
    ADMIN,
    ADMIN_IDENTITY,
    AUTHORITY,
    CERTIFICATE,
    CLIENT,
    SERVER,
    SERVER_IDENTITY,
    BuiltKit,
    KitParticipant,
    ServerAddress,
    build_kit,
    copy_private,
    file_digest,
    rebuild_reason,
)
from fldecl.providers.nvflare.settings import ADMIN_ROLE, NvflareSettings

SERVER_CERTIFICATE_DAYS = 365
#: Where a site's kit holds the settings of the party it runs.
PARTY_SETTINGS_PATH = f"local/{PARTY_SETTINGS_FILE}"
#: How long apply waits for a server to accept its admin, and for a started site to connect.
START_TIMEOUT = 90.0
SESSION_TIMEOUT = 30.0
_PROBE_SECONDS = 5.0  # a TCP connect to the admin port: a listening server answers within it
_STOP_TIMEOUT = 15.0
_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Authority:
    """The stack's CA, as its CertificateAuthority resource names its files."""

    key_file: Path
    cert_file: Path


class Deployment:
    def __init__(self, state_dir: Path, settings: NvflareSettings) -> None:
        self.settings = settings
        self.root = state_dir / "nvflare"
        self.kits = self.root / "kits"
        self._state_file = self.root / "deployment.json"
        self._session: Any = None
        self._session_lock = threading.RLock()
        #: Held while the server's kits are built and the server started: once, whatever the apply's parallelism.
        self.server_lock = threading.Lock()

    # -- kits ---------------------------------------------------------------------------------------------------------

    def kit_dir(self, participant: str) -> Path:
        return self.kits / participant

    @property
    def admin_kit(self) -> Path:
        return self.kit_dir(self.settings.admin)

    def server_address(self) -> ServerAddress:
        """Where the server listens, as the stack declares it: its host and ports, a port it leaves to fldecl (0) as
        chosen when the server's kit was first built."""
        address = self.planned_address()
        if address is None:
            raise ProviderError("the NVFlare server has no kit yet: run `fldecl apply` first")
        return address

    def planned_address(self) -> ServerAddress | None:
        """:meth:`server_address`, or None while a port left to fldecl is not chosen yet (no kit built)."""
        state = self._state()
        fed_learn_port = self.settings.fed_learn_port or state.get("fed_learn_port")
        admin_port = self.settings.admin_port or state.get("admin_port")
        if not fed_learn_port or not admin_port:
            return None
        return ServerAddress(self.settings.server_name, self.settings.host, int(fed_learn_port), int(admin_port))

    def server_kit_changes(self, ca_cert_file: Path | None = None, ca_renewed: str | None = None) -> dict[str, str]:
        """The server's and the admin's kits that :meth:`ensure_server_kits` (re)builds, with why (``NOT_BUILT``: built).

        ``ca_cert_file`` is the CA's certificate now (by default the one the kits were built from); ``ca_renewed``
        says why, when the same apply makes the CA anew first.
        """
        built = self._state().get("kits", {})
        changes = {}
        for name in (self.settings.server_name, self.settings.admin):
            record = BuiltKit.from_dict(built.get(name))
            authority = ca_cert_file or (record.source_files().get(AUTHORITY) if record else None)
            sources = {AUTHORITY: authority} if authority is not None else {}
            sources[CERTIFICATE] = self.identity_file(name)
            reason = rebuild_reason(record, self.kit_dir(name), sources, {AUTHORITY: ca_renewed} if ca_renewed else None,
                                    address=self.planned_address())
            if reason is not None:
                changes[name] = reason
        return changes

    def ensure_server_kits(self, authority: Authority) -> dict[str, str]:
        """The server's and the admin's kits, built from ``authority`` where :meth:`server_kit_changes` says; the
        participants (re)built, with why. Their certificates are issued again only for another CA (or if lost)."""
        from fldecl import pki  # lazy: cryptography only where kits are built

        changes = self.server_kit_changes(authority.cert_file)
        if not changes:
            return changes
        fingerprint = file_digest(authority.cert_file)
        state = self._state()
        fed_learn_port = self.settings.fed_learn_port or state.get("fed_learn_port") or _free_port(self.settings.host)
        admin_port = self.settings.admin_port or state.get("admin_port") or _free_port(self.settings.host, avoid=fed_learn_port)
        address = ServerAddress(self.settings.server_name, self.settings.host, fed_learn_port, admin_port)
        (self.root / "identities").mkdir(parents=True, exist_ok=True)
        names = sorted({self.settings.host, self.settings.server_name, "localhost"})
        kits = dict(state.get("kits", {}))
        for kind, name, role, alt_names in ((SERVER, self.settings.server_name, None, names), (ADMIN, self.settings.admin, ADMIN_ROLE, [])):
            if name not in changes:
                continue
            key_file, cert_file = self.identity_file(name).with_suffix(".key"), self.identity_file(name)
            if state.get("ca_fingerprint") != fingerprint or not key_file.is_file() or not cert_file.is_file():
                try:
                    pki.issue_certificate(authority.key_file, authority.cert_file,
                                          pki.Subject(common_name=name, organization=self.settings.organization, unstructured_name=role),
                                          alt_names, SERVER_CERTIFICATE_DAYS, key_file, cert_file)
                except pki.PKIError as exc:
                    raise ProviderError(f"cannot issue the NVFlare {kind}'s certificate: {exc}") from exc
            kit = build_kit(KitParticipant(kind, name, self.settings.organization, cert_file, key_file, role), address,
                            authority.cert_file, self.kit_dir(name))
            kits[name] = BuiltKit.of(kit, {CERTIFICATE: cert_file, AUTHORITY: authority.cert_file}, address).to_dict()
        self._save_state({**state, "ca_fingerprint": fingerprint, "fed_learn_port": fed_learn_port, "admin_port": admin_port,
                          "kits": kits})
        return changes

    def identity_file(self, participant: str) -> Path:
        """The certificate fldecl issued the server or the admin (its key beside it, ``.key``)."""
        return self.root / "identities" / f"{participant}.crt"

    def client_kit_sources(self, cert_file: Path, ca_cert_file: Path) -> dict[str, Path]:
        """What a client site's kit is built from, by role: the CA's certificate, the party's, the server's and the admin's."""
        return {AUTHORITY: ca_cert_file, CERTIFICATE: cert_file, SERVER_IDENTITY: self.identity_file(self.settings.server_name),
                ADMIN_IDENTITY: self.identity_file(self.settings.admin)}

    def build_client_kit(self, site: str, cert_file: Path, key_file: Path | None, ca_cert_file: Path,
                         party_settings: dict[str, Any] | None = None) -> BuiltKit:
        """A client site's kit; without ``key_file`` (a CSR party) the site adds its own ``startup/client.key``.

        Its ``local/`` folder gets the settings of the party the site runs (for fldecl's Executor) and
        the server's and the admin's certificates: the CA issued them, and a party never seals a training's keys for them.
        """
        participant = KitParticipant(CLIENT, site, self.settings.organization, cert_file, key_file)
        address = self.server_address()
        kit = build_kit(participant, address, ca_cert_file, self.kit_dir(site))
        sources = self.client_kit_sources(cert_file, ca_cert_file)
        shutil.copyfile(sources[SERVER_IDENTITY], kit / "local" / SERVER_CERTIFICATE_FILE)
        shutil.copyfile(sources[ADMIN_IDENTITY], kit / "local" / ADMIN_CERTIFICATE_FILE)
        if party_settings is not None:
            (kit / PARTY_SETTINGS_PATH).write_bytes(party_settings_content(party_settings))
        return BuiltKit.of(kit, sources, address)

    def remove_kit(self, participant: str) -> None:
        shutil.rmtree(self.kit_dir(participant), ignore_errors=True)

    # -- processes ----------------------------------------------------------------------------------------------------

    def start(self, participant: str) -> None:
        """Start ``participant`` from its kit with NVFlare's own ``startup/start.sh``, in its own process group."""
        if self.running(participant):
            return
        kit = self.kit_dir(participant)
        for leftover in ("daemon_pid.fl", "pid.fl", "shutdown.fl", "restart.fl"):
            (kit / leftover).unlink(missing_ok=True)
        logs = self.root / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with open(logs / f"{participant}.log", "ab") as log:
            launcher = subprocess.Popen(["bash", str(kit / "startup" / "start.sh")], cwd=kit, stdin=subprocess.DEVNULL,
                                        stdout=log, stderr=log, env=_environment(), start_new_session=True)
        launcher.wait()
        self._pgid_file(participant).parent.mkdir(parents=True, exist_ok=True)
        self._pgid_file(participant).write_text(str(launcher.pid))

    def run_site(self, site: str, key_file: Path | None = None) -> None:
        """Run a site from its kit in the foreground (NVFlare's ``sub_start.sh --once``) until it stops or Ctrl-C."""
        kit = self.kit_dir(site)
        if key_file is not None:
            copy_private(key_file, kit / "startup" / "client.key")
        if not (kit / "startup" / "client.key").is_file():
            raise ProviderError(f"the kit of site {site} has no key: give the party's own key with --key-file")
        if self.running(site):
            raise ProviderError(f"site {site} already runs on this machine (apply started it)")
        result = subprocess.run(["bash", str(kit / "startup" / "sub_start.sh"), "--once"], cwd=kit, env=_environment(), check=False)
        if result.returncode not in (0, -signal.SIGINT, 130):
            raise ProviderError(f"site {site} stopped with exit code {result.returncode}")

    def running(self, participant: str) -> bool:
        """Whether the process group this machine started for ``participant`` is alive."""
        pgid = self._pgid(participant)
        if pgid is None:
            return False
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def stop(self, participant: str) -> None:
        """Stop what this machine started for ``participant``: TERM to its process group, KILL after a grace period."""
        pgid = self._pgid(participant)
        if participant == self.settings.server_name:
            with self._session_lock:
                self._close_session()
        if pgid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
                deadline = time.monotonic() + _STOP_TIMEOUT
                while self.running(participant) and time.monotonic() < deadline:
                    time.sleep(_POLL_SECONDS)
                if self.running(participant):
                    os.killpg(pgid, signal.SIGKILL)
        self._pgid_file(participant).unlink(missing_ok=True)
        self._stop_job_processes(participant)

    def site_runs_here(self, site: str) -> bool:
        """Whether ``site`` runs on this machine: the process apply started, or one started from its kit by hand
        (``fldecl party run``). NVFlare's server goes on listing a site that stopped without signing out (a crash,
        a Ctrl-C) until its heartbeat times out, ten minutes later: what runs here is the truth for a site of this machine."""
        return self.running(site) or bool(self._kit_processes(site, "nvflare.private.fed.app.client.client_train"))

    def _kit_processes(self, participant: str, module: str) -> list[Any]:
        """The processes of NVFlare's ``module`` (a prefix) that run from ``participant``'s kit."""
        import psutil

        kit = {str(self.kit_dir(participant)), str(self.kit_dir(participant).resolve())}  # as the kit's scripts name it
        found = []
        for process in psutil.process_iter(["cmdline"]):
            command = process.info.get("cmdline") or []
            if any(part.startswith(module) for part in command) and kit & set(command):
                found.append(process)
        return found

    def _stop_job_processes(self, participant: str) -> None:
        """NVFlare starts each job's process in a session of its own: stop those that run from this participant's kit."""
        import psutil

        found = self._kit_processes(participant, "nvflare.private.fed.app")
        for process in found:
            with contextlib.suppress(psutil.Error):
                process.terminate()
        _, alive = psutil.wait_procs(found, timeout=_STOP_TIMEOUT)
        for process in alive:
            with contextlib.suppress(psutil.Error):
                process.kill()

    def log_tail(self, participant: str, lines: int = 5) -> str:
        try:
            text = (self.root / "logs" / f"{participant}.log").read_text(errors="replace")
        except FileNotFoundError:
            return "no log"
        return " | ".join(text.strip().splitlines()[-lines:]) or "no output"

    def _pgid_file(self, participant: str) -> Path:
        return self.root / "run" / f"{participant}.pgid"

    def _pgid(self, participant: str) -> int | None:
        try:
            return int(self._pgid_file(participant).read_text())
        except (FileNotFoundError, ValueError):
            return None

    # -- the admin API ------------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def session(self, timeout: float = SESSION_TIMEOUT) -> Iterator[Any]:
        """The admin session with the server (``nvflare.fuel.flare_api``) as the stack's admin user, one at a time.

        Signing in costs seconds (NVFlare's authentication of the admin's cell), so one session
        serves every call of this process until the server is stopped.
        """
        with self._session_lock:
            if self._session is None:
                self._session = self._connect(timeout)
            try:
                yield self._session
            except Exception:
                self._close_session()  # a failed command may have left the connection unusable: sign in afresh next time
                raise

    def _connect(self, timeout: float) -> Any:
        from nvflare.fuel.flare_api.flare_api import Session  # lazy: NVFlare only where the server is reached
        from nvflare.fuel.utils.config_service import ConfigService
        from nvflare.tool.cli_output import set_output_format

        if not self.admin_kit.is_dir():
            raise ProviderError("the NVFlare admin has no kit yet: run `fldecl apply` first")
        self._probe(timeout)
        # The admin's cell looks for NVFlare's optional comm_config in its config path; with none set, it walks the
        # working directory, once per file format (a checkout with a virtual environment: seconds). The admin's kit.
        ConfigService.initialize(section_files={}, config_path=[str(self.admin_kit)])
        set_output_format("json")  # whatever else NVFlare prints for a person goes to stderr, never into fldecl's output
        # Its connection attempts log each refused connect while a server starts: fldecl reports what failed in the end.
        logging.getLogger("nvflare").setLevel(logging.CRITICAL)
        session = None
        try:
            session = Session(username=self.settings.admin, startup_path=str(self.admin_kit), secure_mode=True)
            # The admin client prints its progress ("Connecting to FLARE ...") for a person at NVFlare's console: to the log.
            session.api._print_hci = logging.getLogger(__name__).debug
            session.try_connect(timeout)
        except Exception as exc:  # NVFlare raises its own types, and plain ones, for an unreachable server
            if session is not None:
                with contextlib.suppress(Exception):
                    session.close()
            raise ProviderError(f"cannot reach the NVFlare server at {self._address_text()}: {exc or type(exc).__name__}") from exc
        # NVFlare's session runs a thread pool whose workers Python joins at exit, which waits forever on an open
        # session: close it first. threading's own exit hook (concurrent.futures uses it) runs before those joins.
        threading._register_atexit(self._close_on_exit)  # type: ignore[attr-defined]
        return session

    def _probe(self, timeout: float) -> None:
        """Fail at once when nothing listens at the server's admin port: NVFlare's sign-in would retry for ``timeout``."""
        host, port = self._admin_endpoint()
        try:
            socket.create_connection((host, port), timeout=min(timeout, _PROBE_SECONDS)).close()
        except OSError as exc:
            raise ProviderError(f"cannot reach the NVFlare server at {host}:{port}: {exc.strerror or exc}") from None

    def _close_on_exit(self) -> None:
        with self._session_lock:
            self._close_session()

    def _close_session(self) -> None:
        if self._session is not None:
            with contextlib.suppress(Exception):
                self._session.close()
            self._session = None

    def wait_for_server(self) -> None:
        """Until the server accepts the admin (it was just started), or a clear error with its log."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                with self.session(timeout=min(SESSION_TIMEOUT, max(deadline - time.monotonic(), 1.0))):
                    return
            except ProviderError:
                if time.monotonic() >= deadline or (self.settings.launch_server and not self.running(self.settings.server_name)):
                    raise ProviderError(f"the NVFlare server did not start at {self._address_text()}: "
                                        f"{self.log_tail(self.settings.server_name)}") from None
                pause(_POLL_SECONDS)

    def server_stopped(self) -> bool:
        """Whether this machine runs the stack's server (``launch: auto``) and it does not run now (after a reboot, say):
        nothing to reach, and not an error, since apply starts it again."""
        return self.settings.launch_server and not self.running(self.settings.server_name)

    def connected_sites(self) -> set[str] | None:
        """The client sites connected to the server now, or None when the server cannot be reached."""
        if self.server_stopped():
            return None  # this machine runs the server, and it does not run: nothing to wait for
        try:
            with self.session() as session:
                return {client.name for client in session.get_connected_client_list()}
        except ProviderError:
            return None

    def wait_for_site(self, site: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while site not in (self.connected_sites() or set()):
            if time.monotonic() >= deadline or not self.running(site):
                raise ProviderError(f"the NVFlare site {site} did not connect to the server: {self.log_tail(site)}")
            pause(_POLL_SECONDS * 2)

    def _address_text(self) -> str:
        host, port = self._admin_endpoint()
        return f"{host}:{port}"

    def _admin_endpoint(self) -> tuple[str, int]:
        """Where the admin's kit signs in: the server's host and the admin port its kits were built with."""
        return self.settings.host, int(self._state().get("admin_port", self.settings.admin_port))

    # -- state --------------------------------------------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self._state_file.read_text()))
        except (FileNotFoundError, ValueError):
            return {}

    def _save_state(self, state: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        write_json_atomically(self._state_file, state)


def _environment() -> dict[str, str]:
    """The kit's scripts run ``python3``: this interpreter, where NVFlare and fldecl are installed."""
    return {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}


def party_settings_content(party_settings: dict[str, Any]) -> bytes:
    """A site's ``local/fldecl_party.json``, as its kit holds it."""
    return json.dumps(party_settings, indent=2).encode()


def _free_port(host: str, avoid: int = 0) -> int:
    """A port the OS considers free on ``host`` now (the server binds it moments later)."""
    while True:
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = int(probe.getsockname()[1])
        if port != avoid:
            return port
