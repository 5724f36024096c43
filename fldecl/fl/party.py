"""A party: connects to the aggregator over mutual TLS, trains locally, and only ever sends updates.

Run as ``python -m fldecl.fl.party JOB.json PARTY_NAME [--aggregator HOST:PORT]`` for a party of
a local training, or in-process through :func:`run_party` (``fldecl party run``) for a party
started by hand in another terminal. The party keeps the training's secret keyring to itself: it
decrypts the fused model, evaluates it and writes the final model into its own work directory.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import ssl
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fldecl.data.errors import DataError
from fldecl.data.handlers import get_data, load_data_handler
from fldecl.fl import protocol
from fldecl.fl.clients import Client, ClientError, Dataset, Hyperparameters, make_client
from fldecl.fl.errors import PartyError
from fldecl.fl.files import write_bytes_atomically
from fldecl.fl.fusion import FusionError, UpdateCodec, make_codec
from fldecl.fl.job import PartySettings, TrainingJob
from fldecl.fl.status import TrainingEvent, read_status
from fldecl.fl.wire import Connection, ConnectionClosed, Message, WireError
from fldecl.he.errors import HEError
from fldecl.he.keyring import SecretKeyring
from fldecl.he.keyshare import KeyShareError, certificate_key_fingerprint, open_keyring, recipient_key_fingerprints, seal_keyring
from fldecl.models import local_training_problem
from fldecl.models.archive import belongs_to_model, deterministic_zip
from fldecl.models.artifacts import load_model
from fldecl.models.errors import ModelError
from fldecl.pki.chain import verify_chain
from fldecl.pki.errors import PKIError
from fldecl.pki.files import load_certificate
from fldecl.pki.tls import client_ssl_context
from fldecl.vocabulary import CRYPTO_ITER_AVG

EventCallback = Callable[[TrainingEvent], None]
FINAL_MODEL_FILE = "final_model.zip"
_PAYLOADS = {protocol.KEYS: 1, protocol.EVALUATE: 1}  # payloads each aggregator request carries



@dataclass(frozen=True)
class TrainingToJoin:
    """Which training a party joins, where its aggregator listens and which model the training starts from."""

    training_id: str
    aggregator: tuple[str, int]
    model_zip_path: Path
    model_file: str
    model_type: str
    trusted: bool
    work_dir: Path

    @classmethod
    def from_job(cls, job: TrainingJob, aggregator: tuple[str, int]) -> TrainingToJoin:
        """The training of a local job, whose parties run where its job.json is."""
        return cls(job.training_id, aggregator, Path(job.model_zip), job.model_file, job.model_type, job.trusted, Path(job.work_dir))


@dataclass
class PartyResult:
    """What a party ends with: its copy of the final model and the fused model's metrics on its test data."""

    name: str
    final_model: Path
    metrics: dict[str, float]


class Party:
    """One party's side of a training; :meth:`run` drives it from ``hello`` to ``finished``."""

    def __init__(self, settings: PartySettings, training: TrainingToJoin, on_event: EventCallback | None = None) -> None:
        self.settings = settings
        self.name = settings.name
        self.training = training
        self.work_dir = training.work_dir / "parties" / settings.name
        self.on_event = on_event or (lambda event: None)
        self.connection: Connection | None = None
        self.aggregator_key_fingerprint = ""
        self.client: Client | None = None
        self.welcome: dict[str, Any] = {}
        self.codec: UpdateCodec | None = None
        self.generated_bundle: bytes | None = None
        self.last_metrics: dict[str, float] = {}
        self.idle_timeout = protocol.HANDSHAKE_TIMEOUT

    def run(self) -> PartyResult:
        """Take part in the training until it finishes; raises PartyError when this party stops early."""
        framework_check = local_training_problem(self.training.model_type)
        if framework_check:
            raise PartyError(f"{self.name}: {framework_check}")
        # Loading first keeps the slow imports out of the aggregator's round time; a party that cannot
        # load still joins, to tell the aggregator why it stops, so the training need not wait for it.
        try:
            loaded: tuple[Any, Dataset] | PartyError = self._load_model_and_data()
        except PartyError as error:
            loaded = error
        try:
            self.connection = self._connect()
        except PartyError:
            if isinstance(loaded, PartyError):
                raise loaded from None  # the aggregator cannot be told; the party's own failure is the news
            raise
        try:
            welcome = self._join()
            if isinstance(loaded, PartyError):
                raise loaded
            self.client = self._client(welcome, *loaded)
            return self._serve()
        except PartyError as error:
            self._report(str(error))
            raise
        finally:
            self.connection.close()

    # -- joining ---------------------------------------------------------------------------

    def _connect(self) -> Connection:
        host, port = self.training.aggregator
        settings = self.settings
        try:
            context = client_ssl_context(
                settings.path(settings.cert_file), settings.path(settings.key_file), settings.path(settings.ca_cert_file)
            )
        except PKIError as error:
            raise PartyError(f"{self.name}: {error}") from error
        try:
            raw = socket.create_connection((host, port), timeout=protocol.HANDSHAKE_TIMEOUT)
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
        aggregator_cert_pem = ssl.DER_cert_to_PEM_cert(tls.getpeercert(binary_form=True)).encode()
        self.aggregator_key_fingerprint = certificate_key_fingerprint(aggregator_cert_pem)
        self._event("connected", f"{self.name} connected to the aggregator at {host}:{port}")
        return Connection(tls)

    def _join(self) -> dict[str, Any]:
        try:
            hello = Message(protocol.HELLO, {"training_id": self.training.training_id, "party": self.name})
            self.connection.send(hello, protocol.HANDSHAKE_TIMEOUT)
        except ConnectionClosed as error:
            raise self._refusal(self._pending_alert() or error) from error
        try:
            reply = self.connection.receive(protocol.HANDSHAKE_TIMEOUT)
        except (ssl.SSLError, ConnectionClosed) as error:
            # With TLS 1.3 a client learns that its certificate was refused only when it reads.
            raise self._refusal(error) from error
        except TimeoutError as error:
            raise PartyError(f"the aggregator did not answer {self.name}'s hello") from error
        if reply.type == protocol.REFUSED:
            raise PartyError(f"aggregator refused {self.name}: {reply.fields.get('reason')}")
        if reply.type != protocol.WELCOME:
            raise PartyError(f"the aggregator answered {self.name}'s hello with {reply.type!r}")
        return reply.fields

    def _pending_alert(self) -> BaseException | None:
        """The TLS alert that explains a failed send, if the aggregator's alert is still readable."""
        try:
            self.connection.receive(1.0)
        except (ssl.SSLError, ConnectionClosed, TimeoutError, OSError) as error:
            return error
        return None

    def _refusal(self, error: BaseException) -> PartyError:
        """Explain a refused TLS session from the aggregator's alert and the party's own check."""
        settings = self.settings
        reason = protocol.describe_tls_alert(error)
        try:
            verify_chain(load_certificate(settings.path(settings.cert_file)), load_certificate(settings.path(settings.ca_cert_file)))
        except PKIError as problem:
            reason = f"{reason or protocol.describe_certificate_problem(str(problem))} ({problem})"
        return PartyError(f"aggregator refused {self.name}'s certificate: {reason or f'TLS session closed ({error})'}")

    def _load_model_and_data(self) -> tuple[Any, Dataset]:
        settings = self.settings
        try:
            model = load_model(self.training.model_zip_path, self.training.model_file, self.training.trusted)
            handler = load_data_handler(
                Path(settings.data_handler_path), settings.data_handler_class, settings.data_handler_info, Path(settings.stack_dir)
            )
            return model, get_data(handler)
        except (ModelError, DataError) as error:
            raise PartyError(f"{self.name}: {error}") from error

    def _client(self, welcome: dict[str, Any], model: Any, data: Dataset) -> Client:
        """Check the model zip against the training's initial model, then wrap model and data."""
        self.welcome = welcome
        self.idle_timeout = 2 * float(welcome["max_timeout"]) + protocol.HANDSHAKE_TIMEOUT
        digest = protocol.file_sha256(self.training.model_zip_path)
        if digest != welcome["model_sha256"]:
            raise PartyError(
                f"{self.name}'s model zip {self.training.model_zip_path} (sha256 {digest[:12]}) is not the training's initial model "
                f"(sha256 {welcome['model_sha256'][:12]})"
            )
        try:
            return make_client(model, self.training.model_type, data, Hyperparameters(**welcome["hyperparameters"]), self.name)
        except ClientError as error:
            raise PartyError(f"{self.name}: {error}") from error

    # -- serving the aggregator ------------------------------------------------------------

    def _serve(self) -> PartyResult:
        handlers = {
            protocol.GENERATE_KEYS: self._generate_keys,
            protocol.KEYS: self._accept_keys,
            protocol.TRAIN: self._train,
            protocol.EVALUATE: self._evaluate,
        }
        if self.welcome["fusion_type"] != CRYPTO_ITER_AVG:
            self.codec = make_codec(self.welcome["fusion_type"], None)
        while True:
            message = self._receive()
            if message.type == protocol.FINISH:
                return self._finish()
            if message.type == protocol.ABORT:
                raise PartyError(f"the aggregator stopped the training: {message.fields.get('reason')}")
            handler = handlers.get(message.type)
            if handler is None:
                raise PartyError(f"{self.name} got an unexpected {message.type!r} message from the aggregator")
            if len(message.payloads) != _PAYLOADS.get(message.type, 0):
                raise PartyError(f"{self.name} got a {message.type!r} message with {len(message.payloads)} payloads")
            reply = handler(message)
            self._send(reply)

    def _generate_keys(self, message: Message) -> Message:
        """Make the training's keyring and seal it for every party whose certificate the CA vouches for."""
        certificates = {name: pem.encode() for name, pem in message.fields["party_certificates"].items()}
        settings = self.settings
        try:
            for name, pem in certificates.items():
                if certificate_key_fingerprint(pem) == self.aggregator_key_fingerprint:
                    raise PartyError(
                        f"{self.name} refuses to share the training's keys: the aggregator listed its own certificate as party {name!r}"
                    )
            keyring = SecretKeyring.generate(self.welcome["cipher_spec"])
            bundle = seal_keyring(
                keyring,
                self.training.training_id,
                settings.path(settings.key_file).read_bytes(),
                settings.path(settings.cert_file).read_bytes(),
                certificates,
                settings.path(settings.ca_cert_file).read_bytes(),
            )
        except (HEError, KeyShareError, OSError) as error:
            raise PartyError(f"{self.name} could not generate the training's keys: {error}") from error
        self.generated_bundle = bundle
        self._event("keys_generated", f"{self.name} generated the keys and sealed them for {', '.join(certificates)}")
        return Message(protocol.KEYS_GENERATED, {}, [bundle])

    def _accept_keys(self, message: Message) -> Message:
        """Open the relayed bundle; keys from anyone but a party of this training stop the party."""
        bundle = message.payloads[0]
        if self.generated_bundle is not None and bundle != self.generated_bundle:
            raise PartyError(f"{self.name} rejected the key bundle: it is not the one {self.name} generated")
        settings = self.settings
        try:
            if self.aggregator_key_fingerprint in recipient_key_fingerprints(bundle):
                raise PartyError(f"{self.name} rejected the key bundle: it shares the keys with the aggregator")
            keyring = open_keyring(
                bundle,
                self.training.training_id,
                self.name,
                settings.path(settings.key_file).read_bytes(),
                settings.path(settings.ca_cert_file).read_bytes(),
                allowed_signers=set(self.welcome["parties"]),
            )
        except (KeyShareError, OSError) as error:
            raise PartyError(f"{self.name} rejected the key bundle: {error}") from error
        self.codec = make_codec(CRYPTO_ITER_AVG, keyring, self.name)
        self._event("keys_accepted", f"{self.name} opened its copy of the training's keys")
        return Message(protocol.KEYS_ACCEPTED)

    def _train(self, message: Message) -> Message:
        round_number = int(message.fields["round"])
        if self.codec is None:
            raise PartyError(f"{self.name} was asked to train before it received the training's keys")
        try:
            metrics = self.client.fit(round_number)
            update = self.codec.encode(self.update_vector())
        except Exception as error:
            raise PartyError(f"{self.name} failed to train round {round_number}: {type(error).__name__}: {error}") from error
        self._event("trained", f"{self.name} trained round {round_number}", round=round_number, **metrics)
        return Message(protocol.UPDATE, {"round": round_number, "metrics": metrics}, [update])

    def update_vector(self) -> np.ndarray:
        """The flattened parameters this party contributes."""
        return self.client.get_vector()

    def _evaluate(self, message: Message) -> Message:
        round_number = int(message.fields["round"])
        try:
            self.client.set_vector(self.codec.decode(message.payloads[0], self.client.size))
        except (FusionError, ValueError) as error:
            raise PartyError(f"{self.name} cannot use the fused model of round {round_number}: {error}") from error
        except Exception as error:  # HEError from decryption, without importing tenseal for iter_avg
            raise PartyError(f"{self.name} cannot decrypt the fused model of round {round_number}: {error}") from error
        self.last_metrics = self.client.evaluate()
        self._event("evaluated", f"{self.name} evaluated the fused model of round {round_number}", round=round_number, **self.last_metrics)
        fields = {"round": round_number, "metrics": self.last_metrics, "test_points": len(self.client.y_test)}
        return Message(protocol.EVALUATION, fields)

    def _finish(self) -> PartyResult:
        path = self.work_dir / FINAL_MODEL_FILE
        model_file = self.training.model_file
        members = {name: data for name, data in _zip_members(self.training.model_zip_path).items()
                   if not belongs_to_model(name, model_file)}  # a SavedModel's old files go with it
        members.update(self.client.model_members(model_file))
        write_bytes_atomically(path, deterministic_zip(members))
        self._send(Message(protocol.FINISHED))
        self._event("finished", f"{self.name} wrote the final model to {path}", path=str(path))
        return PartyResult(self.name, path, self.last_metrics)

    # -- plumbing --------------------------------------------------------------------------

    def _receive(self) -> Message:
        try:
            return self.connection.receive(self.idle_timeout)
        except TimeoutError as error:
            raise PartyError(f"{self.name} heard nothing from the aggregator for {self.idle_timeout:.0f} s") from error
        except (ConnectionClosed, ssl.SSLError) as error:
            raise PartyError(f"the aggregator closed the connection to {self.name}") from error
        except WireError as error:
            raise PartyError(f"{self.name} got an invalid message from the aggregator: {error}") from error

    def _send(self, message: Message) -> None:
        try:
            self.connection.send(message, self.idle_timeout)
        except ConnectionClosed as error:
            raise PartyError(f"the aggregator closed the connection to {self.name}") from error

    def _report(self, reason: str) -> None:
        """Tell the aggregator why this party stops, if it still listens."""
        with contextlib.suppress(ConnectionClosed, OSError, TimeoutError):
            self.connection.send(protocol.error_message(reason), protocol.HANDSHAKE_TIMEOUT)

    def _event(self, kind: str, message: str, round: int | None = None, **data: Any) -> None:
        self.on_event(TrainingEvent(kind, message, round=round, party=self.name, data=data))


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
    training = TrainingToJoin(training_id, aggregator, Path(model_zip_path), model_file, model_type, trusted, Path(work_dir))
    return Party(settings, training, on_event).run()


def _zip_members(path: Path) -> dict[str, bytes]:
    """The members of a zip in order, so the final model keeps the input zip's layout."""
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


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
    parser = argparse.ArgumentParser(prog="python -m fldecl.fl.party", description="Run one local party of a training.")
    parser.add_argument("job", type=Path, help="the training's job.json")
    parser.add_argument("party", help="the party's name")
    parser.add_argument("--aggregator", type=parse_address, help="HOST:PORT (default: from the training's status.json)")
    args = parser.parse_args(argv)
    job = TrainingJob.load(args.job)
    aggregator = args.aggregator or _wait_for_aggregator(Path(job.work_dir), job.max_timeout)

    def print_event(event: TrainingEvent) -> None:
        print(json.dumps(asdict(event)), flush=True)

    try:
        Party(job.local_party(args.party), TrainingToJoin.from_job(job, aggregator), print_event).run()
    except PartyError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
