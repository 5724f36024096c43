"""A party of a WML training, run on this machine by IBM's own party runtime (the seed's step 10).

The party's settings come from the stack (:func:`fldecl.launch.parties.party_settings`): its
certificate, key and CA (for the HE key distribution) and its data handler. IBM's runtime
pins versions of its own (websockets 10, numpy 1.26, ...) and needs a Python its runtime was
built for, so it runs in the interpreter of the runtime the party declares (``spec.party.runtime``):
``FLDECL_PARTY_PYTHON`` for runtime 24.1, ``FLDECL_PARTY23_PYTHON`` for runtime 23.1 (by default
this one). :mod:`.party_runtime` is started there by its path and given the settings as JSON.

What the runtime may unpickle is decided here, from the stack: the classes of the PyTorch model
the stack declares for the training, or the exact bytes of its scikit-learn or TensorFlow model,
unless the user passes ``--trust-aggregator``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from fldecl.core.contract import Observed, ProviderContext
from fldecl.core.errors import ProviderError
from fldecl.data.handlers import handler_config, info_with_paths
from fldecl.fl.training_job import PartySettings
from fldecl.kinds.model import MODEL
from fldecl.kinds.training_run import PartyKit, PartyRun
from fldecl.launch.parties import party_identity, party_settings
from fldecl.models import ModelError, build_zip, framework_of, model_file_of
from fldecl.models.archive import model_directory, read_model_members, saved_model_directory
from fldecl.providers.wml.connection import WmlSession

RUNTIME_FILE = Path(__file__).with_name("party_runtime.py")
MISSING_EXIT = 2
RUNTIME_STOP_SECONDS = 10.0
PARTY_LOG = "party.log"


@dataclass(frozen=True)
class PartyRuntime:
    """One of IBM's party runtimes: the client that carries it, its Python, and the environment that has it."""

    client: str
    python: str
    python_variable: str
    extra: str
    venv: str

    def hint(self) -> str:
        return (f"set {self.python_variable} to the Python of a Python {self.python} virtual environment with "
                f"`pip install 'fldecl[{self.extra},helayers]'` (`make {self.venv}/.installed` builds {self.venv}; see the README)")


#: By ``spec.party.runtime``, named as WML names the software specs of its federated learning runtimes.
PARTY_RUNTIMES = {
    "runtime-24.1-py3.11": PartyRuntime("ibm-watsonx-ai", "3.11", "FLDECL_PARTY_PYTHON", "wml-party", ".venv-party"),
    "runtime-23.1-py3.10": PartyRuntime("ibm-watson-machine-learning", "3.10", "FLDECL_PARTY23_PYTHON", "wml-party-23",
                                        ".venv-party-23"),
}
DEFAULT_RUNTIME = "runtime-24.1-py3.11"
PARTY_PYTHON = PARTY_RUNTIMES[DEFAULT_RUNTIME].python_variable


def declared_runtime(rts: Observed) -> PartyRuntime:
    """The runtime the party's settings declare (runtime 24.1 unless they say otherwise)."""
    return PARTY_RUNTIMES[(rts.attributes.get("party") or {}).get("runtime") or DEFAULT_RUNTIME]


def party_python(rts: Observed, runtime: PartyRuntime) -> str:
    """The interpreter of the party's runtime: its variable's, which must exist, else this one."""
    python = os.environ.get(runtime.python_variable)
    if not python:
        return sys.executable
    if not Path(python).exists():
        raise ProviderError(f"{rts.address} runs IBM's party runtime in {runtime.client} (Python {runtime.python}), "
                            f"but {runtime.python_variable}={python} does not exist; {runtime.hint()}")
    return python


def party_metadata(settings: PartySettings, data_info: dict[str, Any]) -> dict[str, Any]:
    """The seed's party metadata: the key distribution files for HE, and the data handler with ``data_info``.

    Paths are under the settings' stack directory (absolute for this machine's), as the party
    runtime resolves relative ones from its own working directory.
    """
    return {
        "local_training": {"info": {"crypto": {"key_manager": {"key_mgr_info": {"distribution": {
            "ca_cert_file_path": settings.ca_cert_file,
            "my_cert_file_path": settings.cert_file,
            "asym_key_file_path": settings.key_file,
        }}}}}},
        "data_handler": {"name": settings.data_handler_class, "path": settings.data_handler_path,
                         "info": data_info},
    }


def party_kit(run: PartyRun, party_dir: Path) -> PartyKit:
    """The ids and the ``create_party`` metadata IBM's party notebook needs, its paths under ``party_dir``;
    references to sensitive variables in the handler's info are left for the party to resolve."""
    settings = party_settings(party_identity(run.rts, run.related), party_dir, run.key_file)
    metadata = party_metadata(settings, info_with_paths(settings.data_handler_info, settings.path(".")))
    return PartyKit(run.rts.name, run.training.name, run.rts.id, run.training.id, metadata)


def model_trust(model: Observed, stack_dir: Path, trust_aggregator: bool) -> dict[str, Any]:
    """What the party may load: everything (``trust_aggregator``), or what the stack's own model is made of."""
    if trust_aggregator:
        return {"aggregator": True}
    try:
        model_file = model_file_of(model.attributes) or ""
        members = read_model_members(build_zip(model.attributes, stack_dir), model_file, model.address)
    except ModelError as error:
        raise ProviderError(f"{model.address}: {error}; to let the party load what the aggregator sends, "
                            "pass --trust-aggregator") from error
    framework = framework_of(model.attributes["type"])
    if framework == "tensorflow":  # a SavedModel's files by their path in its directory, or one Keras file by its name
        directory = model_directory(model_file)
        return {"model_files": {(PurePosixPath(name).name if name == model_file and saved_model_directory(name) is None
                                 else PurePosixPath(name).relative_to(directory).as_posix()): hashlib.sha256(data).hexdigest()
                                for name, data in members.items()}}
    content = members[model_file]
    if framework == "pytorch":
        return {"torch_globals": _torch_globals(content)}
    return {"model_sha256": hashlib.sha256(content).hexdigest()}


def _torch_globals(content: bytes) -> list[str]:
    """The classes a pickled module names: the ones torch's weights-only loader must be allowed to build."""
    import torch  # lazy: only PyTorch parties need it here

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "model.pt"
        path.write_bytes(content)
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))


def run_party(session: WmlSession, run: PartyRun, ctx: ProviderContext) -> None:
    """Join ``run.training`` as the party ``run.rts`` and train until the training ends."""
    rts, training = run.rts, run.training
    settings = party_settings(party_identity(rts, run.related), ctx.stack_dir, run.key_file)
    metadata = party_metadata(settings, handler_config(settings.data_handler_info, settings.path(".")))
    model = run.resource(training.attributes["model"], MODEL.name)
    document = session.retried(lambda client: client.training.get_details(training.id, _internal=True), f"reading {training.address}")
    federated = (document.get("entity") or {}).get("federated_learning") or {}
    runtime = declared_runtime(rts)
    spec = {"rts_id": rts.id, "rts_name": rts.name, "client": runtime.client, "training_id": training.id,
            "fusion_type": federated.get("fusion_type"), "software_spec": federated.get("software_spec") or {},
            "framework": framework_of(model.attributes["type"]), "metadata": metadata,
            "work_dir": str(ctx.state_dir / "parties" / rts.name / training.id),
            "trust": model_trust(model, ctx.stack_dir, run.trust_aggregator)}
    code, last_error = _run_runtime(party_python(rts, runtime), spec, session, runtime, Path(spec["work_dir"]) / PARTY_LOG)
    if code == MISSING_EXIT:
        hint = "" if os.environ.get(runtime.python_variable) else f"; or {runtime.hint()}"
        raise ProviderError(f"{rts.address}: {last_error}{hint}")
    if code != 0:
        raise ProviderError(f"{rts.address}: {last_error or f'IBM party runtime exited with status {code}'}")


def _run_runtime(python: str, spec: dict[str, Any], session: WmlSession, runtime: PartyRuntime, log_path: Path) -> tuple[int, str]:
    """Run :mod:`.party_runtime`; its output is passed on with secrets scrubbed, and kept in ``log_path`` (`fldecl logs`).
    Returns the exit status and the last error line."""
    try:
        process = subprocess.Popen([python, str(RUNTIME_FILE)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
    except OSError as error:
        raise ProviderError(f"cannot start the party's Python {python}: {error}; {runtime.hint()}") from error
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    log_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(log_path, "a") as log:
            relay = _Relay(session, log)
            output = threading.Thread(target=relay.lines, args=(process.stdout, sys.stdout), name="fldecl-party-output", daemon=True)
            output.start()
            process.stdin.write(json.dumps(spec))
            process.stdin.close()
            last_error = relay.lines(process.stderr, sys.stderr)
            output.join()
        return process.wait(), last_error
    except BaseException:  # Ctrl-C or SIGTERM: the runtime must not go on training on its own
        process.terminate()
        try:
            process.wait(RUNTIME_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
        raise


class _Relay:
    """Passes the runtime's lines on, secrets scrubbed, and writes them to the party's log."""

    def __init__(self, session: WmlSession, log: IO[str]) -> None:
        self.session = session
        self.log = log
        self.lock = threading.Lock()

    def lines(self, stream: IO[str], target: IO[str]) -> str:
        """Relay ``stream`` to ``target`` until it ends; returns its last line."""
        last = ""
        for line in stream:
            cleaned = self.session.clean(line)
            if cleaned:
                print(cleaned, file=target, flush=True)
                with self.lock:
                    print(cleaned, file=self.log, flush=True)
                last = cleaned
        return last
