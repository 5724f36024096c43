"""``run_training``: a local federated training as OS processes, followed through ``status.json``.

The aggregator and every local party run as separate processes, as they would on separate
machines; this module only starts them, turns the aggregator's status events into callbacks and
always stops what it started.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fldecl
from fldecl.fl.party_tasks import FINAL_MODEL_FILE
from fldecl.fl.status import TrainingEvent, read_status
from fldecl.fl.training_job import JOB_FILE, TrainingJob
from fldecl.interrupt import pause
from fldecl.vocabulary import FAILED, TERMINAL_STATES

EventCallback = Callable[[TrainingEvent], None]
POLL_SECONDS = 0.2
_STARTUP_TIMEOUT = 60.0
_STOP_TIMEOUT = 10.0
# After the final state, processes get this long to exit on their own before they are terminated.
_EXIT_GRACE_SECONDS = 10.0
_LOG_TAIL_LINES = 5


@dataclass
class TrainingResult:
    """How a training ended, with its per-round metrics and where the parties left the final model."""

    training_id: str
    state: str
    reason: str | None
    rounds: list[dict[str, Any]]
    work_dir: Path
    final_models: dict[str, Path] = field(default_factory=dict)
    metrics_plot: Path | None = None

    @property
    def final_metrics(self) -> dict[str, float]:
        """The fused model's metrics after the last round, averaged over the parties' test points."""
        return self.rounds[-1]["fused"] if self.rounds else {}


def run_training(job: TrainingJob, on_event: EventCallback | None = None) -> TrainingResult:
    """Run ``job`` to its end: the aggregator and ``job.local_parties`` as child processes.

    Parties in ``job.parties`` that are not local must join by hand (``fldecl party run``) within
    ``max_timeout``. Returns when the training completed, failed or was canceled; child processes
    are stopped in every case, including KeyboardInterrupt and :class:`~fldecl.interrupt.Interrupted`.
    """
    on_event = on_event or (lambda event: None)
    work_dir = Path(job.work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    (work_dir / "status.json").unlink(missing_ok=True)
    job_path = work_dir / JOB_FILE
    job.save(job_path)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        processes["aggregator"] = spawn(["fldecl.fl.local_aggregator", str(job_path)], work_dir / "aggregator.log")
        host, port = _wait_for_address(work_dir, processes["aggregator"])
        for settings in job.local_parties:
            processes[settings.name] = spawn_party(job_path, settings.name, (host, port), work_dir)
        status = _follow(work_dir, processes["aggregator"], on_event)
        _wait_for_exit(processes.values(), _EXIT_GRACE_SECONDS)
    finally:
        _stop_all(processes)
    return _result(job, status)


def spawn_party(job_path: Path, name: str, aggregator: tuple[str, int], work_dir: Path) -> subprocess.Popen[bytes]:
    """Start one local party process; its output goes to ``parties/<name>/party.log``."""
    host, port = aggregator
    arguments = ["fldecl.fl.local_party", str(job_path), name, "--aggregator", f"{host}:{port}"]
    return spawn(arguments, Path(work_dir) / "parties" / name / "party.log")


def spawn(module_arguments: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    """``python -m <module> ...`` with this interpreter, one compute thread, output to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    package_root = str(Path(fldecl.__file__).resolve().parent.parent)
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
        # Several processes share the machine's cores: one compute thread each avoids oversubscription.
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", *module_arguments], stdout=log, stderr=subprocess.STDOUT, env=environment
        )


def _wait_for_address(work_dir: Path, aggregator: subprocess.Popen[bytes]) -> tuple[str, int]:
    deadline = time.monotonic() + _STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        status = read_status(work_dir)
        if status and status.get("aggregator"):
            return status["aggregator"]["host"], int(status["aggregator"]["port"])
        if aggregator.poll() is not None:
            raise RuntimeError(f"the aggregator exited before listening: {_log_tail(work_dir / 'aggregator.log')}")
        pause(POLL_SECONDS)
    raise RuntimeError(f"the aggregator did not start listening within {_STARTUP_TIMEOUT:.0f} s")


def _follow(work_dir: Path, aggregator: subprocess.Popen[bytes], on_event: EventCallback) -> dict[str, Any]:
    """Relay new status events until the training reaches a final state (or the aggregator dies)."""
    seen = 0
    while True:
        status = read_status(work_dir) or {}
        events = status.get("events", [])
        for event in events[seen:]:
            on_event(TrainingEvent.from_dict(event))
        seen = len(events)
        if status.get("state") in TERMINAL_STATES:
            return status
        if aggregator.poll() is not None:
            reason = f"the aggregator exited unexpectedly: {_log_tail(work_dir / 'aggregator.log')}"
            on_event(TrainingEvent("state", f"training failed: {reason}", data={"state": FAILED, "reason": reason}))
            return {**status, "state": FAILED, "reason": reason}
        pause(POLL_SECONDS)


def _wait_for_exit(processes: Iterable[subprocess.Popen[bytes]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(max(deadline - time.monotonic(), 0.01))


def _stop_all(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    """Terminate what is still running (parties first, so the aggregator can record a cancel), then kill."""
    ordered = [process for name, process in processes.items() if name != "aggregator"]
    ordered += [processes["aggregator"]] if "aggregator" in processes else []
    for process in ordered:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + _STOP_TIMEOUT
    for process in ordered:
        try:
            process.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _result(job: TrainingJob, status: dict[str, Any]) -> TrainingResult:
    work_dir = Path(job.work_dir)
    final_models = {
        name: work_dir / "parties" / name / FINAL_MODEL_FILE
        for name in status.get("final_models", [])
        if (work_dir / "parties" / name / FINAL_MODEL_FILE).is_file()
    }
    plot = work_dir / "metrics.png"
    return TrainingResult(
        training_id=job.training_id,
        state=status.get("state", FAILED),
        reason=status.get("reason"),
        rounds=status.get("rounds", []),
        work_dir=work_dir,
        final_models=final_models,
        metrics_plot=plot if plot.is_file() else None,
    )


def _log_tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except FileNotFoundError:
        return "no log"
    return " | ".join(lines[-_LOG_TAIL_LINES:]) or "no output"
