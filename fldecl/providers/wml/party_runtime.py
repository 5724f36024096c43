"""One party of one WML training, run by IBM's own party runtime in the party's Python.

``fldecl party run`` on the wml backend starts this file (by its path, so that it needs nothing
of fldecl) with the interpreter that has IBM's runtime, and writes the party's settings to its
standard input as JSON. Credentials come from the same ``WML_*`` variables as fldecl's. The file
signs in with the client the party's settings name (``ibm-watsonx-ai`` up to 1.3.39, runtime 24.1
on Python 3.11, or ``ibm-watson-machine-learning``, runtime 23.1 on Python 3.10), calls
``create_party(...).run(aggregator_id=...)`` and follows the training until it ends. Exit status:
0 when the training completed, 1 when it did not, 2 when something the party needs is missing
(one line on standard error says what to install).

Loading the model the aggregator sends runs code (a pickle), so trust is explicit: by default a
PyTorch model loads with torch's weights-only loader allowing exactly the classes of the model
the party's own stack declares, and a scikit-learn or TensorFlow model (whose Keras layers may
carry code) loads only if its files are byte for byte the ones the stack declares;
``trust_aggregator`` lifts these checks.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import platform
import sys
import time
from typing import Any

#: A client's module, the Python its party runtime needs, the software spec it runs, and fldecl's extra that installs it.
CLIENTS = {
    "ibm-watsonx-ai": ("ibm_watsonx_ai", "3.11", "runtime-24.1-py3.11", "wml-party"),
    "ibm-watson-machine-learning": ("ibm_watson_machine_learning", "3.10", "runtime-23.1-py3.10", "wml-party-23"),
}
RUNTIME_MODULES = ("environs", "websockets", "msgpack", "msgpack_numpy", "ddsketch", "skops", "scipy", "sklearn", "yaml",
                   "pytz", "joblib")
FRAMEWORK_MODULES = {"pytorch": ("torch", "skorch"), "tensorflow": ("tensorflow",)}
INSTALL_HE = "pip install 'fldecl[helayers]' (IBM HElayers, non-commercial licence)"
TERMINAL_STATES = ("completed", "failed", "canceled", "error")
FOLLOW_SECONDS = 1.0
STATUS_EVERY_SECONDS = 3.0
SETTLE_SECONDS = 60.0
BYTES_FILE = "bytes.json"


class Missing(Exception):
    """Something this party needs is not installed; the message says what to install."""


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def install(client_name: str) -> str:
    return f"pip install 'fldecl[{CLIENTS[client_name][3]}]'"


def check_client(client_name: str) -> None:
    """The party's client must be installed here, and this must be the Python its runtime needs."""
    python = ".".join(platform.python_version_tuple()[:2])
    module, needs_python, _, _ = CLIENTS[client_name]
    if python != needs_python or not _importable(module):
        raise Missing(f"{client_name} runs its party runtime on Python {needs_python} and must be installed there "
                      f"(this is Python {python}); {install(client_name)}")


def check_software_spec(client_name: str, software_spec: dict[str, Any]) -> None:
    """IBM's ``Party.run`` picks its runtime by the training's software spec and fails quietly on the wrong Python."""
    _, python, runtime_spec, _ = CLIENTS[client_name]
    named = software_spec.get("name") or software_spec.get("id") or runtime_spec
    if client_name == "ibm-watsonx-ai" and named != runtime_spec:
        raise Missing(f"the training's software spec {named} selects party runtime 23.1, which needs Python 3.10 and "
                      f"ibm-watson-machine-learning; declare software_spec {{name: {runtime_spec}}} in the Training "
                      f"for ibm-watsonx-ai on Python {python}, or runtime: runtime-23.1-py3.10 in the party's settings")


def check_modules(client_name: str, fusion_type: str | None, framework: str) -> None:
    """IBM's runtime logs its import errors and goes on as if it had started, so its needs are checked first."""
    missing = [module for module in RUNTIME_MODULES + FRAMEWORK_MODULES.get(framework, ()) if not _importable(module)]
    if missing:
        raise Missing(f"IBM's party runtime needs {', '.join(missing)}; {install(client_name)}")
    if fusion_type == "crypto_iter_avg" and not _importable("pyhelayers"):
        raise Missing(f"crypto_iter_avg encrypts with IBM HElayers, which is not installed; {INSTALL_HE}")


def set_trust(trust: dict[str, Any], framework: str) -> None:
    """Let the runtime load only the model this party's stack declares, unless the user trusts the aggregator."""
    if trust.get("aggregator"):
        os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
        return
    if framework == "pytorch":
        import torch

        allowed = []
        for name in trust.get("torch_globals") or []:
            module, _, attribute = name.rpartition(".")
            allowed.append(getattr(importlib.import_module(module), attribute))
        torch.serialization.add_safe_globals(allowed)
    elif framework == "tensorflow":
        import tensorflow as tf

        expected_files, load_keras = trust.get("model_files") or {}, tf.keras.models.load_model

        def load_declared_keras(path: Any, *args: Any, **kwargs: Any) -> Any:
            if _file_digests(str(path), set(expected_files)) != expected_files:
                raise PermissionError("the aggregator sent a model that is not the one this party's stack declares; "
                                      "run the party with --trust-aggregator to load it anyway")
            return load_keras(path, *args, **kwargs)

        tf.keras.models.load_model = load_declared_keras
    elif framework == "scikit-learn":
        import joblib

        expected, load = trust.get("model_sha256"), joblib.load

        def load_declared(path: Any, *args: Any, **kwargs: Any) -> Any:
            with open(path, "rb") as model_file:
                digest = hashlib.sha256(model_file.read()).hexdigest()
            if digest != expected:
                raise PermissionError("the aggregator sent a model that is not the one this party's stack declares; "
                                      "run the party with --trust-aggregator to load it anyway")
            return load(path, *args, **kwargs)

        joblib.load = load_declared


def _file_digests(path: str, names: set[str]) -> dict[str, str]:
    """sha256 of a model file, or of every file of a SavedModel directory, by its path relative to ``path``
    (a file not among ``names`` counts: it is one the stack's model does not have)."""
    if not os.path.isdir(path):
        with open(path, "rb") as model_file:
            return {os.path.basename(path): hashlib.sha256(model_file.read()).hexdigest()}
    digests = {}
    for directory, _, files in os.walk(path):
        for name in files:
            full = os.path.join(directory, name)
            relative = os.path.relpath(full, path).replace(os.sep, "/")
            if relative in names or relative.split("/")[0] in ("variables", "assets") or relative.endswith(".pb"):
                with open(full, "rb") as model_file:
                    digests[relative] = hashlib.sha256(model_file.read()).hexdigest()
    return digests


def load_helayers_first() -> None:
    """Load HElayers before anything loads TensorFlow: in the other order (IBM's runtime loads the model first),
    HElayers 1.5.5 crashes the process (SIGSEGV) when it makes the keys."""
    importlib.import_module("pyhelayers")


def sign_in(client_name: str) -> Any:
    """IBM's client, signed in from the ``WML_*`` variables, with TLS verified against ``WML_CA_BUNDLE`` (or the system's CAs)."""
    env = os.environ
    ca_bundle = env.get("WML_CA_BUNDLE")
    if ca_bundle:
        # The runtime's websocket verifies with the default SSL context and its probe with requests.
        env["SSL_CERT_FILE"] = env["REQUESTS_CA_BUNDLE"] = ca_bundle
    env["WML_CLIENT_VERIFY_REQUESTS"] = env["WX_CLIENT_VERIFY_REQUESTS"] = ca_bundle or "True"
    fields = {"url": env["WML_URL"], "username": env.get("WML_USERNAME"), "apikey": env.get("WML_APIKEY"),
              "password": env.get("WML_PASSWORD"), "instance_id": env.get("WML_INSTANCE_ID"), "version": env.get("WML_VERSION")}
    fields = {key: value for key, value in fields.items() if value}
    if client_name == "ibm-watsonx-ai":
        from ibm_watsonx_ai import APIClient, Credentials

        renamed = {("api_key" if key == "apikey" else key): value for key, value in fields.items()}
        client = APIClient(credentials=Credentials(**renamed, verify=ca_bundle or True))
    else:
        from ibm_watson_machine_learning import APIClient

        client = APIClient(fields)
    if env.get("WML_SPACE_ID"):
        client.set.default_space(env["WML_SPACE_ID"])
    else:
        client.set.default_project(env["WML_PROJECT_ID"])
    return client


class WireCounter:
    """The bytes this party sends and receives, per round, as its websocket carries them (``bytes.json`` in its work
    directory, which ``fldecl show`` reads): each TRAIN request from the aggregator starts a round; what comes before
    the first one (registration, the key distribution) is round 0."""

    TRAIN = 7  # ibmfl.message.message_type.MessageType.TRAIN

    def __init__(self, path: str, rts_id: str) -> None:
        self.path = path
        self.rts_id = rts_id
        self.round = 0
        self.rounds: dict[int, list[int]] = {}

    def install(self) -> None:
        """Count every frame of the runtime's websockets (websockets' legacy protocol, which IBM's runtime uses)."""
        from websockets.legacy.protocol import WebSocketCommonProtocol

        counter, send, recv = self, WebSocketCommonProtocol.send, WebSocketCommonProtocol.recv

        async def counted_send(protocol: Any, message: Any) -> None:
            counter.count(message, sent=True)
            await send(protocol, message)

        async def counted_recv(protocol: Any) -> Any:
            message = await recv(protocol)
            counter.count(message, sent=False)
            return message

        WebSocketCommonProtocol.send = counted_send
        WebSocketCommonProtocol.recv = counted_recv

    def count(self, message: Any, sent: bool) -> None:
        if not isinstance(message, (bytes, str)):
            return
        if not sent and isinstance(message, bytes) and _message_type(message) == self.TRAIN:
            self.round += 1
            self.save()
        self.rounds.setdefault(self.round, [0, 0])[0 if sent else 1] += len(message)

    def save(self) -> None:
        rounds = {str(number): {"sent": sent, "received": received} for number, (sent, received) in self.rounds.items()}
        temporary = self.path + ".tmp"
        with open(temporary, "w") as handle:
            json.dump({"rts_id": self.rts_id, "rounds": rounds}, handle)
        os.replace(temporary, self.path)


def _message_type(frame: bytes) -> int | None:
    """The ``message_type`` in an IBM FL frame's header, read without decoding its (large) data."""
    import msgpack  # type: ignore[import-untyped]  # no stubs

    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
    unpacker.feed(frame)
    try:
        for _ in range(unpacker.read_map_header()):
            if unpacker.unpack() == "header":
                header = unpacker.unpack()
                return header.get("message_type") if isinstance(header, dict) else None
            unpacker.skip()
    except (ValueError, msgpack.UnpackException):
        return None
    return None


def run_party(spec: dict[str, Any]) -> int:
    counter = WireCounter(os.path.join(spec["work_dir"], BYTES_FILE), spec["rts_id"])
    counter.install()
    try:
        return _run(spec)
    finally:
        counter.save()


def _run(spec: dict[str, Any]) -> int:
    client = sign_in(spec["client"])
    party = client.remote_training_systems.create_party(spec["rts_id"], spec["metadata"])
    from ibmfl.exceptions import FLException  # the runtime's own package, put in place by create_party

    try:
        party.run(aggregator_id=spec["training_id"], asynchronous=True, verify=True)
    except FLException as refused:
        print(f"{spec['rts_name']}: IBM's party runtime did not join: {refused}", file=sys.stderr)
        return 1
    runtime = party.Party
    if runtime is None or not runtime.is_running or runtime.fl_model is None:
        print(f"{spec['rts_name']}: IBM's party runtime did not start; its log above says why", file=sys.stderr)
        return 1
    client_name = spec["client"]
    print(f"{spec['rts_name']}: registered with training {spec['training_id']} ({CLIENTS[client_name][2]}: {client_name} "
          f"{importlib.metadata.version(client_name)} on Python {platform.python_version()})", flush=True)
    follow(client, spec, party)
    status = final_status(client, spec)
    state = status.get("state", "")
    if state != "completed":
        errors = (status.get("failure") or {}).get("errors") or [{}]
        reason = errors[0].get("message") or (status.get("message") or {}).get("text") or ""
        print(f"{spec['rts_name']}: the training ended {state}: {reason}", file=sys.stderr)
        return 1
    print(f"{spec['rts_name']}: the training completed", flush=True)
    return 0


def follow(client: Any, spec: dict[str, Any], party: Any) -> str:
    """Wait while the party works, printing each new state and round; the aggregator's STOP ends it."""
    reported, state, checked = "", "", 0.0
    while party.is_running():
        if time.monotonic() - checked >= STATUS_EVERY_SECONDS:
            checked = time.monotonic()
            status = training_status(client, spec)
            state = status.get("state", "")
            label = f"{state} ({status.get('iteration') or 0}/{status.get('total_iterations') or '?'} rounds)"
            if label != reported:
                reported = label
                print(f"{spec['rts_name']}: training {label}", flush=True)
            if state in TERMINAL_STATES:
                break
        time.sleep(FOLLOW_SECONDS)
    return state


def training_status(client: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """The training's status; a training deleted under the party (a hard cancel) has ended too."""
    error_module = importlib.import_module(f"{CLIENTS[spec['client']][0]}.wml_client_error")
    try:
        return dict(client.training.get_status(spec["training_id"]))
    except error_module.WMLClientError:
        return {"state": "canceled", "message": {"text": "the training was deleted"}}


def final_status(client: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """The training's status once it has ended: the aggregator stops its parties just before it records the end."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        status = training_status(client, spec)
        if status.get("state") in TERMINAL_STATES or time.monotonic() >= deadline:
            return status
        time.sleep(FOLLOW_SECONDS)


def main() -> int:
    spec = json.load(sys.stdin)
    try:
        check_client(spec["client"])
        check_software_spec(spec["client"], spec.get("software_spec") or {})
        check_modules(spec["client"], spec.get("fusion_type"), spec["framework"])
    except Missing as missing:
        print(str(missing), file=sys.stderr)
        return 2
    if spec.get("fusion_type") == "crypto_iter_avg":
        load_helayers_first()
    os.environ["FL_WORKING_DIR"] = spec["work_dir"]
    os.makedirs(spec["work_dir"], exist_ok=True)
    os.chdir(spec["work_dir"])
    set_trust(spec.get("trust") or {}, spec["framework"])
    logging.getLogger("ibm_watsonx_ai").setLevel(logging.ERROR)
    logging.getLogger("ibm_watson_machine_learning").setLevel(logging.ERROR)
    return run_party(spec)


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # The runtime's websocket and worker threads do not all end with the training; the process does.
    os._exit(code)
