"""One party's side of a training, independent of how tasks reach it: a task in, one reply out.

:class:`PartyTasks` answers the tasks of :mod:`fldecl.fl.protocol` (configure, generate keys,
accept keys, train, evaluate, finish, abort). It trains locally, and for ``crypto_iter_avg`` it
keeps the training's secret keyring to itself: it makes the keys when asked, seals them per party
certificate, decrypts the fused model, evaluates it and writes the final model into its own work
directory. Two loops feed it:

- the local runtime's TLS party (:mod:`fldecl.fl.local_party`), one frame per task;
- an NVIDIA FLARE Executor, one ``Shareable`` per task (``Message.from_dict(shareable)``, and the
  reply's ``to_dict()`` back).

How a loop drives it: :meth:`PartyTasks.load` first (model and data: the slow part, done before
joining so it stays out of the rounds' time; a failure there is still told to the server, which
then need not wait for this party); :meth:`PartyTasks.trust_server` with the server's certificate
as soon as it is known (and :meth:`PartyTasks.never_share_with` for any other identity of the CA that is
not a party, such as an engine's admin user); then :meth:`PartyTasks.handle` for each task until it returns a
``finished`` reply (:attr:`PartyTasks.result` is then set). ``handle`` raises
:class:`~fldecl.fl.errors.PartyError` when the party cannot go on (an ``abort`` task included):
the loop replies :func:`~fldecl.fl.protocol.error_message` with that reason when it can, and stops.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from numpy.typing import NDArray

from fldecl.atomic_write import write_atomically
from fldecl.data.errors import DataError
from fldecl.data.handlers import get_data, load_data_handler
from fldecl.fl import protocol
from fldecl.fl.clients import Client, Dataset, Hyperparameters, make_client
from fldecl.fl.errors import ClientError, FusionError, PartyError
from fldecl.fl.fusion import UpdateCodec, make_codec
from fldecl.fl.protocol import Message
from fldecl.fl.status import TrainingEvent
from fldecl.fl.training_job import PartySettings, TrainingJob
from fldecl.he.errors import HEError
from fldecl.he.keyring import SecretKeyring
from fldecl.he.keyshare import KeyShareError, certificate_key_fingerprint, open_keyring, recipient_key_fingerprints, seal_keyring
from fldecl.models import local_training_problem
from fldecl.models.archive import belongs_to_model, deterministic_zip
from fldecl.models.artifacts import load_model
from fldecl.models.errors import ModelError
from fldecl.vocabulary import CRYPTO_ITER_AVG

EventCallback = Callable[[TrainingEvent], None]
FINAL_MODEL_FILE = "final_model.zip"


@dataclass(frozen=True)
class TrainingToJoin:
    """Which training a party takes part in and which model it starts from; ``work_dir`` holds ``parties/<name>/``."""

    training_id: str
    model_zip_path: Path
    model_file: str
    model_type: str
    trusted: bool
    work_dir: Path

    @classmethod
    def from_job(cls, job: TrainingJob) -> TrainingToJoin:
        """The training of a local job, whose parties run where its job.json is."""
        return cls(job.training_id, Path(job.model_zip), job.model_file, job.model_type, job.trusted, Path(job.work_dir))


@dataclass
class PartyResult:
    """What a party ends with: its copy of the final model and the fused model's metrics on its test data."""

    name: str
    final_model: Path
    metrics: dict[str, float]


class PartyTasks:
    """One party's answers to the server's tasks; see the module's docstring for how a loop drives it."""

    def __init__(self, settings: PartySettings, training: TrainingToJoin, on_event: EventCallback | None = None) -> None:
        self.settings = settings
        self.name = settings.name
        self.training = training
        self.work_dir = training.work_dir / "parties" / settings.name
        self.on_event: EventCallback = on_event or (lambda event: None)
        #: The key fingerprints of the CA's identities that are not parties (the server's first), by fingerprint: who they are.
        self.non_parties: dict[str, str] = {}
        self.result: PartyResult | None = None
        self._loaded: tuple[Any, Dataset] | None = None
        self._client: Client | None = None
        self._configuration: dict[str, Any] = {}
        self._codec: UpdateCodec | None = None
        self._generated_bundle: bytes | None = None
        self._last_metrics: dict[str, float] = {}
        self._handlers: dict[str, Callable[[Message], Message]] = {
            protocol.CONFIGURE: self._configure,
            protocol.GENERATE_KEYS: self._generate_keys,
            protocol.KEYS: self._accept_keys,
            protocol.TRAIN: self._train,
            protocol.EVALUATE: self._evaluate,
            protocol.FINISH: self._finish,
        }

    # -- what a loop calls ----------------------------------------------------------------------

    def load(self) -> None:
        """Load the model and this party's data; raises PartyError with the reason."""
        problem = local_training_problem(self.training.model_type)
        if problem:
            raise PartyError(f"{self.name}: {problem}")
        settings = self.settings
        try:
            model = load_model(self.training.model_zip_path, self.training.model_file, self.training.trusted)
            handler = load_data_handler(
                Path(settings.data_handler_path), settings.data_handler_class, settings.data_handler_info, Path(settings.stack_dir)
            )
            self._loaded = model, get_data(handler)
        except (ModelError, DataError) as error:
            raise PartyError(f"{self.name}: {error}") from error

    def trust_server(self, certificate_pem: bytes) -> None:
        """The server's certificate: this party never seals the training's keys for its key."""
        self.never_share_with(certificate_pem, "the aggregator")

    def never_share_with(self, certificate_pem: bytes, who: str) -> None:
        """A certificate of the CA that is not a party's (``who``: what it is): the training's keys are never sealed for its key,
        and a bundle sealed for it is refused."""
        self.non_parties[certificate_key_fingerprint(certificate_pem)] = who

    def handle(self, task: Message) -> Message:
        """The reply to one task; raises PartyError when this party stops (asked to abort, or failed)."""
        if task.type == protocol.ABORT:
            raise PartyError(f"the aggregator stopped the training: {task.fields.get('reason')}")
        handler = self._handlers.get(task.type)
        if handler is None:
            raise PartyError(f"{self.name} got an unexpected {task.type!r} message from the aggregator")
        if not task.has_expected_payloads():
            raise PartyError(f"{self.name} got a {task.type!r} message with {len(task.payloads)} payloads")
        return handler(task)

    def update_vector(self) -> NDArray[Any]:
        """The flattened parameters this party contributes."""
        return self._require_client().get_vector()

    # -- the tasks ------------------------------------------------------------------------------

    def _configure(self, task: Message) -> Message:
        """Check the model zip against the training's initial model, then wrap model and data."""
        if self._loaded is None:
            raise PartyError(f"{self.name} was configured before its model and data were loaded")
        fields = task.fields
        digest = protocol.file_sha256(self.training.model_zip_path)
        if digest != fields["model_sha256"]:
            raise PartyError(
                f"{self.name}'s model zip {self.training.model_zip_path} (sha256 {digest[:12]}) is not the training's initial model "
                f"(sha256 {fields['model_sha256'][:12]})"
            )
        model, data = self._loaded
        try:
            self._client = make_client(model, self.training.model_type, data, Hyperparameters(**fields["hyperparameters"]), self.name)
        except ClientError as error:
            raise PartyError(f"{self.name}: {error}") from error
        self._configuration = fields
        if fields["fusion_type"] != CRYPTO_ITER_AVG:
            self._codec = make_codec(fields["fusion_type"], None)
        return Message(protocol.CONFIGURED)

    def _generate_keys(self, task: Message) -> Message:
        """Make the training's keyring and seal it for every party whose certificate the CA vouches for."""
        certificates = {name: pem.encode() for name, pem in task.fields["party_certificates"].items()}
        settings = self.settings
        try:
            for name, pem in certificates.items():
                who = self.non_parties.get(certificate_key_fingerprint(pem))
                if who is not None:
                    raise PartyError(f"{self.name} refuses to share the training's keys: the aggregator listed "
                                     f"the certificate of {who} as party {name!r}")
            keyring = SecretKeyring.generate(self._configured("cipher_spec"))
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
        self._generated_bundle = bundle
        self._event("keys_generated", f"{self.name} generated the keys and sealed them for {', '.join(certificates)}")
        return Message(protocol.KEYS_GENERATED, {}, [bundle])

    def _accept_keys(self, task: Message) -> Message:
        """Open the relayed bundle; keys from anyone but a party of this training stop the party."""
        bundle = task.payloads[0]
        if self._generated_bundle is not None and bundle != self._generated_bundle:
            raise PartyError(f"{self.name} rejected the key bundle: it is not the one {self.name} generated")
        settings = self.settings
        try:
            shared_with = sorted(self.non_parties[key] for key in recipient_key_fingerprints(bundle) if key in self.non_parties)
            if shared_with:
                raise PartyError(f"{self.name} rejected the key bundle: it shares the keys with {' and '.join(shared_with)}")
            keyring = open_keyring(
                bundle,
                self.training.training_id,
                self.name,
                settings.path(settings.key_file).read_bytes(),
                settings.path(settings.ca_cert_file).read_bytes(),
                allowed_signers=set(self._configured("parties")),
            )
        except (KeyShareError, OSError) as error:
            raise PartyError(f"{self.name} rejected the key bundle: {error}") from error
        self._codec = make_codec(CRYPTO_ITER_AVG, keyring, self.name)
        self._event("keys_accepted", f"{self.name} opened its copy of the training's keys")
        return Message(protocol.KEYS_ACCEPTED)

    def _train(self, task: Message) -> Message:
        round_number = int(task.fields["round"])
        client = self._require_client()
        if self._codec is None:
            raise PartyError(f"{self.name} was asked to train before it received the training's keys")
        try:
            metrics = client.fit(round_number)
            update = self._codec.encode(self.update_vector())
        except Exception as error:  # a framework's own error, told to the aggregator in one line
            raise PartyError(f"{self.name} failed to train round {round_number}: {type(error).__name__}: {error}") from error
        self._event("trained", f"{self.name} trained round {round_number}", round=round_number, **metrics)
        return Message(protocol.UPDATE, {"round": round_number, "metrics": metrics}, [update])

    def _evaluate(self, task: Message) -> Message:
        round_number = int(task.fields["round"])
        client = self._require_client()
        if self._codec is None:
            raise PartyError(f"{self.name} was asked to evaluate before it received the training's keys")
        try:
            client.set_vector(self._codec.decode(task.payloads[0], client.size))
        except (FusionError, ValueError) as error:
            raise PartyError(f"{self.name} cannot use the fused model of round {round_number}: {error}") from error
        except Exception as error:  # HEError, or SEAL's own error from decryption: the party's failure, with its reason
            raise PartyError(f"{self.name} cannot decrypt the fused model of round {round_number}: {error}") from error
        self._last_metrics = client.evaluate()
        self._event("evaluated", f"{self.name} evaluated the fused model of round {round_number}", round=round_number,
                    **self._last_metrics)
        fields = {"round": round_number, "metrics": self._last_metrics, "test_points": len(client.y_test)}
        return Message(protocol.EVALUATION, fields)

    def _finish(self, task: Message) -> Message:
        """Write the final model into this party's work directory, in the input zip's layout."""
        path = self.work_dir / FINAL_MODEL_FILE
        model_file = self.training.model_file
        members = {name: data for name, data in _zip_members(self.training.model_zip_path).items()
                   if not belongs_to_model(name, model_file)}  # a SavedModel's old files go with it
        members.update(self._require_client().model_members(model_file))
        write_atomically(path, deterministic_zip(members))
        self.result = PartyResult(self.name, path, self._last_metrics)
        self._event("finished", f"{self.name} wrote the final model to {path}", path=str(path))
        return Message(protocol.FINISHED)

    # -- plumbing -------------------------------------------------------------------------------

    def _require_client(self) -> Client:
        if self._client is None:
            raise PartyError(f"{self.name} got a task before the training was configured")
        return self._client

    def _configured(self, key: str) -> Any:
        if key not in self._configuration:
            raise PartyError(f"{self.name} got a task before the training was configured")
        return self._configuration[key]

    def _event(self, kind: str, message: str, round: int | None = None, **data: Any) -> None:
        self.on_event(TrainingEvent(kind, message, round=round, party=self.name, data=data))


def _zip_members(path: Path) -> dict[str, bytes]:
    """The members of a zip in order, so the final model keeps the input zip's layout."""
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}
