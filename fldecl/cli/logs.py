"""``fldecl logs TRAINING``: a training's logs on this machine, each line prefixed by whose it is; ``--follow`` until it ends."""

from __future__ import annotations

import time
from pathlib import Path

from rich.text import Text

from fldecl.cli.session import console, guarded, load, reconciler, scrub
from fldecl.core.contract import Observed
from fldecl.core.reconciler import Reconciler
from fldecl.interrupt import pause
from fldecl.kinds.training_run import LogFile, progress_of, training_logs
from fldecl.vocabulary import TERMINAL_STATES

POLL_SECONDS = 0.5
STATE_EVERY_SECONDS = 3.0


class LogTail:
    """What of each log file has been printed so far; prints the rest, line by line, prefixed by the log's name."""

    def __init__(self, wanted: set[str]) -> None:
        self.wanted = wanted
        self.offsets: dict[Path, int] = {}
        self.partial: dict[Path, str] = {}

    def print_new(self, files: list[LogFile], final: bool = False) -> None:
        shown = [log for log in files if not self.wanted or log.name in self.wanted]
        width = max((len(log.name) for log in shown), default=0)
        for log in shown:
            for line in self._new_lines(log.path, final):
                console().print(Text.assemble((f"{log.name:<{width}} | ", "dim"), scrub(line)))

    def _new_lines(self, path: Path, final: bool) -> list[str]:
        try:
            with open(path, "rb") as handle:
                handle.seek(self.offsets.get(path, 0))
                data = handle.read()
        except FileNotFoundError:
            return []
        self.offsets[path] = self.offsets.get(path, 0) + len(data)
        text = self.partial.pop(path, "") + data.decode(errors="replace")
        lines = text.split("\n")
        if lines[-1] and not final:
            self.partial[path] = lines[-1]  # a line still being written
        return [line for line in lines[:-1] + ([lines[-1]] if final and lines[-1] else []) if line.strip()]


@guarded
def logs(training: str, stack_dir: Path, backend: str | None, follow: bool, parties: tuple[str, ...]) -> None:
    stack = load(stack_dir, backend)
    rec = reconciler(stack)
    current, files = training_logs(rec, training)
    address = current.address
    tail = LogTail(set(parties))
    tail.print_new(files)
    if not any(log.path.is_file() for log in files):
        console().print(Text(f"No logs of {address} on this machine yet" + (
            "" if stack.backend == "local" else f" (the {stack.backend} backend does not hand out its aggregator's log; "
                                                  "parties run here with `fldecl party run` keep theirs)"), style="dim"))
    console().print(Text(f"{address}: {current.status or 'unknown state'}", style="cyan"))
    if follow:
        _follow(rec, address, current, files, tail)


def _follow(rec: Reconciler, address: str, current: Observed, files: list[LogFile], tail: LogTail) -> None:
    """Print new lines as they come and each change of the training's state, until it ends: its final state last,
    after whatever its processes wrote up to then."""
    reported, checked = current.status, time.monotonic()
    while not _ended(current):
        pause(POLL_SECONDS)
        tail.print_new(files)
        if time.monotonic() - checked >= STATE_EVERY_SECONDS:
            checked = time.monotonic()
            current, files = training_logs(rec, address)
            if current.status != reported and not _ended(current):
                reported = current.status
                console().print(Text(f"{address}: {current.status}", style="cyan"))
    tail.print_new(files, final=True)
    if current.status != reported:
        console().print(Text(f"{address}: {current.status}", style="cyan"))


def _ended(training: Observed) -> bool:
    progress = progress_of(training)
    return progress is not None and progress.state in TERMINAL_STATES
