"""The HTTPS server and its Python API (``EmulatorServer``) and console entry (``serve``).

Requests pass through one pipeline: match a route, count it, maybe inject a fault, check the
bearer token, run the handler. Control routes (``/_emulator/``) skip counting, faults and auth.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import re
import secrets
import shutil
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qs, urlsplit

from fldecl.emulator.aggregator import Aggregator, RoundTraffic
from fldecl.emulator.aggregator.channel import PartyChannel
from fldecl.emulator.api import route_table
from fldecl.emulator.app import EmulatorApp
from fldecl.emulator.auth import Account, TokenAuthority, new_secret
from fldecl.emulator.faults import FaultConfig, FaultInjector, RequestStats
from fldecl.emulator.lifecycle import SimulatedTraining, TrainingLifecycle, TrainingRunner
from fldecl.emulator.resources import now_iso
from fldecl.emulator.routing import ApiError, Request, Response, RouteTable
from fldecl.emulator.state import Document, Store
from fldecl.emulator.tls import write_certificates

logger = logging.getLogger(__name__)

CP4D_VERSION = "4.8"
INSTANCE_ID = "openshift"
HANDSHAKE_TIMEOUT_SECONDS = 10
IDLE_CONNECTION_TIMEOUT_SECONDS = 120
#: WML's aggregator endpoint; IBM's party runtime appends the port 443 to the path, not the authority.
AGGREGATOR_PATH = re.compile(r"/ml/v4/trainings/(?P<id>[^/]+)/aggregator(?::443)?/?")
AGGREGATOR_ROUTE = "GET /ml/v4/trainings/{id}/aggregator"


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def admit_party(app: EmulatorApp, request: Request) -> tuple[str, Any]:
    """The RTS id and the training's session for a websocket upgrade, or an ``ApiError`` to answer instead.

    The bearer token must be valid and the ``rtsid`` header must name one of the training's
    remote training systems while the training is accepting parties or running.
    """
    app.stats.count(AGGREGATOR_ROUTE)
    app.tokens.require_bearer(request)
    training_id = AGGREGATOR_PATH.fullmatch(request.path)["id"]  # type: ignore[index]
    training = app.store.get("training", training_id)
    if training is None:
        raise ApiError(404, "training_not_found", f"Training '{training_id}' does not exist.")
    session = app.aggregator.session(training_id) if app.aggregator else None
    if session is None:
        state = training["entity"]["status"]["state"]
        raise ApiError(409, "training_not_accepting_parties", f"Training '{training_id}' is {state}; it does not accept parties.")
    rts_id = request.headers.get("rtsid") or ""
    if not session.expects(rts_id):
        raise ApiError(403, "remote_training_system_not_listed",
                       f"Remote training system '{rts_id}' is not one of training '{training_id}''s remote training systems.")
    return rts_id, session


def dispatch(app: EmulatorApp, table: RouteTable, request: Request) -> Response | None:
    """The response to one request, or ``None`` to drop the connection without answering."""
    try:
        route, request.params = table.match(request.method, request.path)
    except ApiError as unmatched:
        route, routing_error = None, unmatched
    try:
        if route is not None and route.control:
            if not _is_loopback(request.client_host):
                raise ApiError(403, "forbidden", "Emulator control endpoints answer loopback clients only.")
            return route.handler(app, request)
        app.stats.count(route.key if route else f"{request.method} (unmatched)")
        fault = app.faults.decide()
        app.stats.count_fault(fault)
        if fault.delay_seconds:
            time.sleep(fault.delay_seconds)
        if fault.drop:
            return None
        if fault.error is not None:
            raise fault.error
        if route is None:
            raise routing_error
        if route.auth:
            app.tokens.require_bearer(request)
        return route.handler(app, request)
    except ApiError as error:
        return error.to_response()
    except Exception:  # one broken handler must answer 500, not kill the connection thread
        logger.exception("emulator handler failed for %s %s", request.method, request.path)
        return ApiError(500, "internal_error", "The emulator failed to handle the request.").to_response()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_CONNECTION_TIMEOUT_SECONDS
    disable_nagle_algorithm = True  # headers and body go out as separate writes; do not wait for ACKs
    server: _HttpsServer
    raw_requestline: bytes  # set by BaseHTTPRequestHandler.handle_one_request, undeclared in its stubs

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline().strip():
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self) -> None:
        body = self._read_body()
        url = urlsplit(self.path)
        request = Request(self.command, re.sub("/{2,}", "/", url.path),
                          parse_qs(url.query, keep_blank_values=True), self.headers, body, self.client_address[0])
        if (self.headers.get("Upgrade") or "").lower() == "websocket" and AGGREGATOR_PATH.fullmatch(request.path):
            self._serve_party(request)
            return
        self._respond(dispatch(self.server.app, self.server.routes, request))

    def _serve_party(self, request: Request) -> None:
        """Upgrade to the aggregator's websocket and serve the party on this connection until it leaves."""
        try:
            rts_id, session = admit_party(self.server.app, request)
        except ApiError as refused:
            self._respond(refused.to_response())
            return
        self.close_connection = True
        handshake = self.raw_requestline + b"".join(f"{name}: {value}\r\n".encode("latin-1")
                                                    for name, value in self.headers.items()) + b"\r\n"
        channel = PartyChannel(self.connection, rts_id)
        channel.accept(handshake, [])
        self.connection.settimeout(None)  # the party pings every 20 s; a silent party is the aggregator's to time out
        channel.serve(session.on_message)

    def _respond(self, response: Response | None) -> None:
        if response is None:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)


class _HttpsServer(ThreadingHTTPServer):
    """TLS is negotiated in each connection's own thread, so a stalled handshake blocks nobody."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], context: ssl.SSLContext, app: EmulatorApp,
                 routes: RouteTable) -> None:
        super().__init__(address, _Handler)
        self.context, self.app, self.routes = context, app, routes
        self._open: set[ssl.SSLSocket] = set()
        self._open_lock = threading.Lock()

    def finish_request(self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any) -> None:
        assert isinstance(request, socket.socket), "a TCP server's request is its connection"
        request.settimeout(HANDSHAKE_TIMEOUT_SECONDS)
        try:
            connection = self.context.wrap_socket(request, server_side=True)
        except OSError as error:
            logger.debug("TLS handshake with %s failed: %s", client_address, error)
            return
        with self._open_lock:
            self._open.add(connection)
        try:
            super().finish_request(connection, client_address)
        except OSError as error:
            logger.debug("connection from %s ended: %s", client_address, error)
        finally:
            with self._open_lock:
                self._open.discard(connection)
            connection.close()

    def close_connections(self) -> None:
        """End kept-alive connections so their threads exit with the server."""
        with self._open_lock:
            for connection in self._open:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)


class EmulatorServer:
    """A WML emulator for tests and CI: ``with EmulatorServer(port=0) as emu: APIClient(emu.credentials())``.

    Without ``data_dir`` it works in a temporary directory removed on stop. Trainings are WML's:
    its aggregator waits for IBM's party runtime to join over the websocket and trains with it.
    ``simulate_trainings=True`` instead simulates them on a clock, with nobody connected:
    ``training_seconds`` is the whole pending -> completed time (``None``: trainings wait in
    ``pending`` until forced) and ``training_runner`` replaces the made-up rounds. The remaining
    keyword arguments are the fault settings of ``FaultConfig``.
    """

    def __init__(self, data_dir: Path | str | None = None, port: int = 0, *, host: str = "127.0.0.1",
                 username: str = "admin", api_key: str | None = None, password: str | None = None,
                 project_id: str | None = None, simulate_trainings: bool = False, training_seconds: float | None = 30.0,
                 training_runner: TrainingRunner | None = None, **fault_settings: Any) -> None:
        if training_seconds is not None and training_seconds < 0:
            raise ValueError("training_seconds must not be negative")
        if training_runner is not None and not simulate_trainings:
            raise ValueError("training_runner replaces simulated trainings; pass simulate_trainings=True")
        self._temporary = data_dir is None
        self.data_dir = Path(tempfile.mkdtemp(prefix="fldecl-emulator-") if data_dir is None else data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._requested = (host, port)
        self._identity = (username, api_key, password, project_id)
        phase_seconds = None if training_seconds is None else training_seconds / 3
        self.aggregator = None if simulate_trainings else Aggregator()
        self._runner = self.aggregator or training_runner or SimulatedTraining(phase_seconds)
        self._simulated = simulate_trainings
        self._phase_seconds = phase_seconds
        self._initial_faults = FaultConfig(**fault_settings)
        self._server: _HttpsServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> EmulatorServer:
        store = Store(self.data_dir / "emulator.sqlite3")
        username, api_key, password, project_id = self._identity
        account = Account(username, api_key or store.setting("api_key", lambda: secrets.token_urlsafe(24)),
                          password or store.setting("password", lambda: secrets.token_urlsafe(16)))
        project_id = project_id or store.setting("project_id", lambda: str(uuid.uuid4()))
        store.ensure_project(project_id, "fldecl emulator project", now_iso())
        lifecycle = TrainingLifecycle(store, self._runner, self._phase_seconds, self._simulated)
        self.app = EmulatorApp(store, account, TokenAuthority(store.setting("token_secret", new_secret)),
                               FaultInjector(self._initial_faults), RequestStats(), lifecycle, project_id, self.aggregator)
        tls = write_certificates(self.data_dir / "tls")
        self.ca_file = tls.ca_cert
        self._server = _HttpsServer(self._requested, tls.server_context(), self.app, route_table())
        host, port = self._server.server_address[:2]
        self.host, self.port = str(host), int(port)
        lifecycle.aggregator_port = self.port
        lifecycle.start()
        self._thread = threading.Thread(target=self._server.serve_forever, name="emulator-https", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        self._thread.join(timeout=5)
        self.app.trainings.stop()
        self.app.store.close()
        self._server = None
        if self._temporary:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def project_id(self) -> str:
        return self.app.project_id

    @property
    def username(self) -> str:
        return self.app.account.username

    @property
    def api_key(self) -> str:
        return self.app.account.api_key

    @property
    def password(self) -> str:
        return self.app.account.password

    def token(self) -> str:
        return self.app.tokens.issue(self.username)

    def credentials(self, kind: str = "apikey") -> dict[str, str]:
        """``APIClient`` credentials of ``kind`` ``apikey``, ``password`` (via the bedrock pair) or ``token``."""
        common = {"url": self.url, "instance_id": INSTANCE_ID, "version": CP4D_VERSION}
        if kind == "apikey":
            return {**common, "username": self.username, "apikey": self.api_key}
        if kind == "password":
            return {**common, "username": self.username, "password": self.password, "bedrock_url": self.url}
        if kind == "token":
            return {**common, "token": self.token()}
        raise ValueError(f"unknown credential kind {kind!r}; use apikey, password or token")

    def env(self) -> dict[str, str]:
        return {"WML_URL": self.url, "WML_USERNAME": self.username, "WML_APIKEY": self.api_key,
                "WML_INSTANCE_ID": INSTANCE_ID, "WML_VERSION": CP4D_VERSION, "WML_PROJECT_ID": self.project_id,
                "WML_CA_BUNDLE": str(self.ca_file)}

    def stats(self) -> dict[str, Any]:
        return self.app.stats.snapshot()

    def reset_stats(self) -> None:
        self.app.stats.reset()

    def set_faults(self, **settings: Any) -> FaultConfig:
        """Change fault settings (merged over the current ones; the RNG is reseeded)."""
        config = FaultConfig.from_json(settings, self.app.faults.config)
        self.app.faults.configure(config)
        return config

    def training_traffic(self, training_id: str) -> list[RoundTraffic]:
        """Seconds and bytes per party of each phase of an ended WML training (key distribution, rounds)."""
        return list(self.aggregator.traffic.get(training_id, [])) if self.aggregator else []

    def set_training_state(self, training_id: str, state: str, message: str | None = None,
                           metrics: list[dict[str, Any]] | None = None) -> Document:
        training = self.app.trainings.force(training_id, state, message, metrics)
        if training is None:
            raise KeyError(f"no training {training_id}")
        return training


def serve(port: int, data_dir: Path | None, out: TextIO = sys.stdout, **knobs: Any) -> None:
    """Run an emulator until Ctrl-C (or SIGTERM), after printing the exports a client needs."""
    stopped = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with EmulatorServer(data_dir=data_dir, port=port, **knobs) as emulator:
        print(f"# fldecl WML emulator on {emulator.url}, data in {emulator.data_dir}", file=out)
        for name, value in emulator.env().items():
            print(f"export {name}={value}", file=out)
        print("# Ctrl-C stops the emulator.", file=out, flush=True)
        try:
            while not stopped.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
