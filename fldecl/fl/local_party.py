"""The local runtime's party process: a mutual-TLS connection to the aggregator that feeds :class:`PartyTasks`.

Run as ``python -m fldecl.fl.local_party JOB.json PARTY_NAME [--aggregator HOST:PORT]`` for a
party of a local training, or in-process through :func:`run_party` (``fldecl party run``) for a
party started by hand in another terminal. The connection only carries frames: what the party
does with each task, and that it keeps the training's secret keyring to itself, is
:mod:`fldecl.fl.party_tasks`.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import ssl
import sys
import time
from pathlib import Path

from fldecl.fl import protocol
from fldecl.fl.errors import ConnectionClosed, PartyError, WireError
from fldecl.fl.framing import HANDSHAKE_TIMEOUT, HELLO, REFUSED, TASK_ID, WELCOME, Connection
from fldecl.fl.party_tasks import EventCallback, PartyResult, PartyTasks, TrainingToJoin
from fldecl.fl.protocol import Message
from fldecl.fl.status import TrainingEvent, read_status
from fldecl.fl.training_job import PartySettings, TrainingJob
from fldecl.pki.chain import verify_chain
from fldecl.pki.errors import PKIError
from fldecl.pki.files import load_certificate
from fldecl.pki.tls import client_ssl_context


class Party:
    """One party over TLS; :meth:`run` drives it from ``hello`` to ``finished``.

    ``tasks`` answers the aggregator's tasks (by default a :class:`PartyTasks` for ``settings``).
    """

    def __init__(self, settings: PartySettings, training: TrainingToJoin, aggregator: tuple[str, int],
                 on_event: EventCallback | None = None, tasks: PartyTasks | None = None) -> None:
        self.settings = settings
        self.name = settings.name
        self.aggregator = aggregator
        self.on_event: EventCallback = on_event or (lambda event: None)
        self.tasks = tasks or PartyTasks(settings, training, self.on_event)
        self.idle_timeout = HANDSHAKE_TIMEOUT

    def run(self) -> PartyResult:
        """Take part in the training until it finishes; raises PartyError when this party stops early."""
        # Loading first keeps the slow imports out of the aggregator's round time; a party that cannot
        # load still joins, to tell the aggregator why it stops, so the training need not wait for it.
        try:
            self.tasks.load()
            load_failure: PartyError | None = None
        except PartyError as error:
            load_failure = error
        try:
            connection = self._connect()
        except PartyError:
            if load_failure is not None:
                raise load_failure from None  # the aggregator cannot be told; the party's own failure is the news
            raise
        try:
            self._join(connection)
            if load_failure is not None:
                raise load_failure
            return self._serve(connection)
        except PartyError as error:
            with contextlib.suppress(ConnectionClosed, OSError, TimeoutError):
                connection.send(protocol.error_message(str(error)), HANDSHAKE_TIMEOUT)
            raise
        finally:
            connection.close()

    # -- joining ---------------------------------------------------------------------------

    def _connect(self) -> Connection:
        host, port = self.aggregator
        settings = self.settings
        try:
            context = client_ssl_context(
                settings.path(settings.cert_file), settings.path(settings.key_file), settings.path(settings.ca_cert_file)
            )
        except PKIError as error:
            raise PartyError(f"{self.name}: {error}") from error
        try:
            raw = socket.create_connection((host, port), timeout=HANDSHAKE_TIMEOUT)
        except OSError as error:
            raise PartyError(f"{self.name} cannot reach the aggregator at {host}:{port}: {error}") from error
        try:
            tls = context.wrap_socket(raw, server_hostname=host)
        except ssl.SSLCertVerificationError as error:
            raw.close()
            raise PartyError(f"{self.name} refused the aggregator's certificate: {error.verify_message}") from error
        except (ssl.SSLError, OSError) as error:
            raw.close()
            raise self._refusal(error) from error
        self.tasks.trust_server(ssl.DER_cert_to_PEM_cert(tls.getpeercert(binary_form=True) or b"").encode())
        self._event("connected", f"{self.name} connected to the aggregator at {host}:{port}")
        return Connection(tls)

    def _join(self, connection: Connection) -> None:
        try:
            connection.send(Message(HELLO, {"training_id": self.tasks.training.training_id, "party": self.name}),
                            HANDSHAKE_TIMEOUT)
        except ConnectionClosed as error:
            raise self._refusal(_pending_alert(connection) or error) from error
        try:
            reply = connection.receive(HANDSHAKE_TIMEOUT)
        except (ssl.SSLError, ConnectionClosed) as error:
            # With TLS 1.3 a client learns that its certificate was refused only when it reads.
            raise self._refusal(error) from error
        except TimeoutError as error:
            raise PartyError(f"the aggregator did not answer {self.name}'s hello") from error
        if reply.type == REFUSED:
            raise PartyError(f"aggregator refused {self.name}: {reply.fields.get('reason')}")
        if reply.type != WELCOME:
            raise PartyError(f"the aggregator answered {self.name}'s hello with {reply.type!r}")
        # Admission may take up to max_timeout, and each task as long again.
        self.idle_timeout = 2 * float(reply.fields["max_timeout"]) + HANDSHAKE_TIMEOUT

    def _refusal(self, error: BaseException) -> PartyError:
        """Explain a refused TLS session from the aggregator's alert and the party's own check."""
        settings = self.settings
        reason = describe_tls_alert(error)
        try:
            verify_chain(load_certificate(settings.path(settings.cert_file)), load_certificate(settings.path(settings.ca_cert_file)))
        except PKIError as problem:
            reason = f"{reason or describe_certificate_problem(str(problem))} ({problem})"
        return PartyError(f"aggregator refused {self.name}'s certificate: {reason or f'TLS session closed ({error})'}")

    # -- serving the aggregator ------------------------------------------------------------

    def _serve(self, connection: Connection) -> PartyResult:
        """Answer tasks until ``finish``; each reply carries its task's id back."""
        while True:
            task = self._receive(connection)
            task_id = task.fields.pop(TASK_ID, None)
            reply = self.tasks.handle(task)
            self._send(connection, Message(reply.type, {**reply.fields, TASK_ID: task_id}, reply.payloads))
            if reply.type == protocol.FINISHED and self.tasks.result is not None:
                return self.tasks.result

    def _receive(self, connection: Connection) -> Message:
        try:
            return connection.receive(self.idle_timeout)
        except TimeoutError as error:
            raise PartyError(f"{self.name} heard nothing from the aggregator for {self.idle_timeout:.0f} s") from error
        except (ConnectionClosed, ssl.SSLError) as error:
            raise PartyError(f"the aggregator closed the connection to {self.name}") from error
        except WireError as error:
            raise PartyError(f"{self.name} got an invalid message from the aggregator: {error}") from error

    def _send(self, connection: Connection, message: Message) -> None:
        try:
            connection.send(message, self.idle_timeout)
        except ConnectionClosed as error:
            raise PartyError(f"the aggregator closed the connection to {self.name}") from error

    def _event(self, kind: str, message: str) -> None:
        self.on_event(TrainingEvent(kind, message, party=self.name))


def run_party(
    settings: PartySettings,
    training_id: str,
    aggregator: tuple[str, int],
    model_zip_path: Path,
    model_file: str,
    model_type: str,
    trusted: bool,
    work_dir: Path,
    on_event: EventCallback | None = None,
) -> PartyResult:
    """Take part in one training as ``settings.name``; raises :class:`PartyError` with the reason on failure."""
    training = TrainingToJoin(training_id, Path(model_zip_path), model_file, model_type, trusted, Path(work_dir))
    return Party(settings, training, aggregator, on_event).run()


def _pending_alert(connection: Connection) -> BaseException | None:
    """The TLS alert that explains a failed send, if the aggregator's alert is still readable."""
    try:
        connection.receive(1.0)
    except (ssl.SSLError, ConnectionClosed, TimeoutError, OSError) as error:
        return error
    return None


def describe_tls_alert(error: BaseException) -> str | None:
    """Put the alert a TLS peer sent into words (OpenSSL says e.g. ``TLSV1_ALERT_UNKNOWN_CA``), if it sent one."""
    text = f"{getattr(error, 'reason', '') or ''} {error}".lower()
    if "unknown_ca" in text or "unknown ca" in text:
        return "not issued by the stack's CA"
    if "expired" in text:
        return "expired"
    if "revoked" in text:
        return "revoked"
    if "certificate_required" in text or "certificate required" in text:
        return "no certificate presented"
    if "alert" in text:
        return f"rejected during the TLS handshake ({getattr(error, 'reason', None) or error})"
    return None


def describe_certificate_problem(problem: str) -> str:
    """The short form of a PKI check's message, matching what a TLS alert would have said."""
    if "not issued by" in problem:
        return "not issued by the stack's CA"
    if "expired" in problem:
        return "expired"
    return "invalid"


def _wait_for_aggregator(work_dir: Path, timeout: float) -> tuple[str, int]:
    """The address the aggregator of a local training listens on, from its status file."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = read_status(work_dir)
        if status and status.get("aggregator"):
            return status["aggregator"]["host"], int(status["aggregator"]["port"])
        time.sleep(0.1)
    raise PartyError(f"no aggregator address appeared in {work_dir} within {timeout:.0f} s")


def parse_address(text: str) -> tuple[str, int]:
    host, separator, port = text.rpartition(":")
    if not separator or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fldecl.fl.local_party", description="Run one local party of a training.")
    parser.add_argument("job", type=Path, help="the training's job.json")
    parser.add_argument("party", help="the party's name")
    parser.add_argument("--aggregator", type=parse_address, help="HOST:PORT (default: from the training's status.json)")
    args = parser.parse_args(argv)
    job = TrainingJob.load(args.job)
    aggregator = args.aggregator or _wait_for_aggregator(Path(job.work_dir), job.max_timeout)

    def print_event(event: TrainingEvent) -> None:
        print(event.log_line(), flush=True)

    try:
        Party(job.local_party(args.party), TrainingToJoin.from_job(job), aggregator, print_event).run()
    except PartyError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
