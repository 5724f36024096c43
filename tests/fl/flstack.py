"""Helpers for the FL runtime tests: the session's PKI, data and models, and job builders."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from fldecl.data import split
from fldecl.fl.local_aggregator import Aggregator
from fldecl.fl.protocol import Message
from fldecl.fl.runner import spawn_party
from fldecl.fl.training_job import JOB_FILE, PartySettings, TrainingJob
from fldecl.fl.transport import AdmissionEvent, Admit, Reply, Traffic, Transport
from fldecl.he import HEError, SecretKeyring
from fldecl.he.keyshare import KeyShareError, open_keyring
from fldecl.models import build_zip
from fldecl.pki import Subject, create_ca, issue_certificate
from tests.conftest import EXAMPLE

REPO = Path(__file__).resolve().parents[2]
PARTIES = ("Party_1", "Party_2", "Party_3")

FLAT_HANDLER = '''
import numpy as np
from ibmfl.data.data_handler import DataHandler


class FlatNpzHandler(DataHandler):
    def __init__(self, data_config=None):
        super().__init__()
        self.npz_file = data_config["npz_file"]

    def get_data(self):
        with np.load(self.npz_file) as data:
            return (data["x_train"], data["y_train"]), (data["x_test"], data["y_test"])
'''

# The seed's MLP is the example stack's model (tests/models/test_model_artifacts.py checks its layout).
SEED_MLP = yaml.safe_load((EXAMPLE / "model.yaml").read_text())["spec"]["source"]["architecture"]["layers"]
SMALL_NET = [
    {"type": "Linear", "in_features": 64, "out_features": 16},
    {"type": "ReLU"},
    {"type": "Linear", "in_features": 16, "out_features": 10},
    {"type": "LogSoftmax", "dim": 1},
]


@dataclass
class Stack:
    """Everything a training needs on disk, shared by the whole session."""

    root: Path

    def cert(self, name: str) -> Path:
        return self.root / "pki" / f"{name}.cert.pem"

    def key(self, name: str) -> Path:
        return self.root / "pki" / f"{name}.key.pem"

    @property
    def ca_cert(self) -> Path:
        return self.cert("ca")

    def model(self, name: str) -> tuple[Path, str, str]:
        """(zip path, model_file, model_type) of one of MODELS, built on first use."""
        model_type, architecture = MODELS[name]
        model_file = "pytorch_sequence.pt" if architecture["framework"] == "pytorch" else "model.pickle"
        path = self.root / "models" / f"{name}.zip"
        if not path.exists():
            spec = {"type": model_type, "software_spec": {"name": "runtime-22.2-py3.10"}, "model_file": model_file,
                    "source": {"architecture": architecture}}
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(build_zip(spec, self.root))
        return path, model_file, model_type


def _sklearn(estimator: str, n_features: int, **extra: object) -> tuple[str, dict]:
    return "scikit-learn_1.1", {"framework": "scikit-learn", "estimator": estimator, "n_features": n_features, "seed": 0, **extra}


MODELS = {
    "seed_mlp": ("pytorch-onnx_1.12", {"framework": "pytorch", "seed": 0, "layers": SEED_MLP}),
    "small_net": ("pytorch-onnx_1.12", {"framework": "pytorch", "seed": 0, "layers": SMALL_NET}),
    "sgd_classifier": _sklearn("SGDClassifier", 64, classes=list(range(10))),
    "sgd_regressor": _sklearn("SGDRegressor", 10),
}
DATASETS = {"mnist": "sklearn_digits_28x28", "digits": "sklearn_digits", "regression": "synthetic_regression"}


def create_stack(root: Path) -> Stack:
    """CA, aggregator and party certificates (RSA 4096, so made once), data splits and handlers."""
    stack = Stack(root)
    (root / "pki").mkdir()
    create_ca(Subject(common_name="test issuer", organization="fldecl"), 30, stack.key("ca"), stack.ca_cert)
    for name in ("aggregator", *PARTIES):
        issue_certificate(
            stack.key("ca"), stack.ca_cert, Subject(common_name=name, organization="fldecl"),
            ["localhost", "127.0.0.1"], 30, stack.key(name), stack.cert(name),
        )
    issue_certificate(
        stack.key("ca"), stack.ca_cert, Subject(common_name="Party_4", organization="fldecl"),
        ["localhost"], 30, stack.key("Party_4"), stack.cert("Party_4"),
    )
    create_ca(Subject(common_name="another issuer", organization="elsewhere"), 30, stack.key("other_ca"), stack.cert("other_ca"))
    issue_certificate(
        stack.key("other_ca"), stack.cert("other_ca"), Subject(common_name="Party_2", organization="elsewhere"),
        ["localhost"], 30, stack.key("impostor"), stack.cert("impostor"),
    )
    for data_name, dataset in DATASETS.items():
        spec = {
            "source": {"dataset": dataset}, "parties": 3, "points_per_party": 200,
            "sampling": "uniform" if data_name == "regression" else "stratified",
            "seed": 42, "output": f"data/{data_name}_{{index}}.npz",
        }
        split(spec, root)
    handlers = root / "handlers"
    handlers.mkdir()
    shutil.copy(REPO / "manifests/mnist-fhe/handlers/mnist_pytorch_data_handler.py", handlers)
    (handlers / "flat_npz_handler.py").write_text(FLAT_HANDLER)
    return stack


def party_settings(stack: Stack, name: str, data: str, cert_name: str | None = None) -> PartySettings:
    index = PARTIES.index(name) + 1
    mnist = data == "mnist"
    return PartySettings(
        name=name,
        cert_file=str(stack.cert(cert_name or name)),
        key_file=str(stack.key(cert_name or name)),
        ca_cert_file=str(stack.ca_cert),
        data_handler_path="handlers/mnist_pytorch_data_handler.py" if mnist else "handlers/flat_npz_handler.py",
        data_handler_class="MnistPytorchDataHandler" if mnist else "FlatNpzHandler",
        data_handler_info={"npz_file": f"data/{data}_{index}.npz"},
        stack_dir=str(stack.root),
    )


def build_job(stack: Stack, work_dir: Path, model: str = "small_net", data: str = "digits", required: bool = True,
              parties: tuple[str, ...] = PARTIES, **overrides: object) -> TrainingJob:
    """A job of ``parties`` (the stack's three by default) over the session's stack, all local; keyword arguments override fields."""
    zip_path, model_file, model_type = stack.model(model)
    fields = {
        "training_id": uuid.uuid4().hex,
        "name": "test-training",
        "model_zip": str(zip_path),
        "model_file": model_file,
        "model_type": model_type,
        "trusted": True,
        "fusion_type": "crypto_iter_avg",
        "cipher_spec": "encryption_level_1",
        "epochs": 1,
        "rounds": 2,
        "metrics": "accuracy",
        "optimizer": None,
        "loss": None,
        "batch_size": 32,
        "seed": 0,
        "quorum": 1.0,
        "max_timeout": 60,
        "parties": [{"name": name, "required": required, "cert_file": str(stack.cert(name))} for name in parties],
        "ca_cert_file": str(stack.ca_cert),
        "aggregator_cert_file": str(stack.cert("aggregator")),
        "aggregator_key_file": str(stack.key("aggregator")),
        "work_dir": str(work_dir),
        "local_parties": [party_settings(stack, name, data) for name in parties],
    }
    fields.update(overrides)
    return TrainingJob(**fields)


def serve_with_local_parties(aggregator: Aggregator, party_names: Iterable[str] | None = None,
                             spawned: dict[str, subprocess.Popen] | None = None) -> dict[str, subprocess.Popen]:
    """Serve ``aggregator`` in this thread while its job's local parties run as processes.

    Returns the party processes (finished or killed), so a test can read their logs' exit codes;
    ``spawned`` is filled with them as soon as they start, for a relay that acts on a process.
    """
    job = aggregator.job
    job_path = Path(job.work_dir) / JOB_FILE
    job.save(job_path)
    address = aggregator.bind()
    names = job.local_party_names if party_names is None else list(party_names)
    processes = spawned if spawned is not None else {}
    processes.update({name: spawn_party(job_path, name, address, Path(job.work_dir)) for name in names})
    try:
        aggregator.serve()
        for process in processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(30)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    return processes


TaskHook = Callable[[dict[str, Message]], dict[str, Message]]
ReplyHook = Callable[[dict[str, Reply]], dict[str, Reply]]


class Relay:
    """A :class:`Transport` in front of the aggregator's own, to watch or alter the tasks and replies passing through.

    It stands for a malicious or faulty server in security tests, and injects failures in quorum tests.
    """

    def __init__(self, inner: Transport, on_tasks: TaskHook | None = None, on_replies: ReplyHook | None = None) -> None:
        self.inner = inner
        self.on_tasks = on_tasks or (lambda tasks: tasks)
        self.on_replies = on_replies or (lambda replies: replies)

    def wait_for_parties(self, admit: Admit, timeout: float) -> list[AdmissionEvent]:
        return self.inner.wait_for_parties(admit, timeout)

    def ask(self, tasks: Mapping[str, Message], timeout: float) -> dict[str, Reply]:
        return self.on_replies(self.inner.ask(self.on_tasks(dict(tasks)), timeout))

    def tell(self, parties: Iterable[str], message: Message) -> None:
        self.inner.tell(parties, message)

    def drop(self, party: str) -> None:
        self.inner.drop(party)

    def traffic(self, party: str) -> Traffic:
        return self.inner.traffic(party)

    def close(self) -> None:
        self.inner.close()


def relaying(on_tasks: TaskHook | None = None, on_replies: ReplyHook | None = None) -> Callable[[Transport], Transport]:
    """What ``Aggregator(job, relay=...)`` takes: a :class:`Relay` with these hooks around the TLS transport."""
    return lambda inner: Relay(inner, on_tasks, on_replies)


def assert_no_outsider_can_open_the_keys(received: Iterable[Message], training_id: str, ca_pem: bytes,
                                         outsider_keys: Iterable[bytes], party: str = "Party_1") -> bytes:
    """What the server received holds no secret keyring, and its key bundle opens with no outsider's key
    (as the aggregator, nor as a party); returns that bundle (the parties' only copy of the keys)."""
    messages = list(received)
    for payload in (payload for message in messages for payload in message.payloads):
        with pytest.raises(HEError):
            SecretKeyring.from_bytes(payload)
    (bundle,) = [message.payloads[0] for message in messages if message.type == "keys_generated"]
    for key in outsider_keys:
        for claimed in ("aggregator", party):
            with pytest.raises(KeyShareError):
                open_keyring(bundle, training_id, claimed, key, ca_pem)
    return bundle


def party_log(job: TrainingJob, name: str) -> str:
    return (Path(job.work_dir) / "parties" / name / "party.log").read_text()


class Background:
    """Run a callable in a thread and keep its result or exception."""

    def __init__(self, function: Callable[[], object]) -> None:
        self.result: object = None
        self.error: BaseException | None = None

        def target() -> None:
            try:
                self.result = function()
            except BaseException as error:  # handed to the test through join()
                self.error = error

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()

    def join(self, timeout: float = 120) -> object:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "background task did not finish"
        return self.result
