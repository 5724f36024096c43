"""What a long command prints while it works, Terraform style, readable in CI logs and on a terminal.

* :class:`StepPrinter`: a line when each step starts and ends (``Creation complete after 2.1s
  [id=...]``), and ``Still creating... [10s elapsed]`` every 10 seconds of a step that runs on.
* :class:`LineReporter`: the providers' progress lines (a training's parties and rounds); on a
  terminal, a progress bar of each training's rounds below them.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, ClassVar

from rich.console import Console
from rich.text import Text

from fldecl.cli.session import console, scrub

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

Step = tuple[str, str]
STILL_EVERY_SECONDS = 10


def elapsed(seconds: float) -> str:
    """Seconds as Terraform prints them: ``10s``, ``1m0s``, ``1h2m3s``."""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


class StepPrinter:
    """Terraform-style lines per step: 'Creating...', 'Still creating... [10s elapsed]', 'Creation complete after 2s [id=...]'.

    A context manager: while it is open, a thread prints the 'Still ...' lines of the steps that run on."""

    VERBS: ClassVar[dict[str, tuple[str, str, str]]] = {
        "create": ("Creating", "Creation", "creating"), "update": ("Modifying", "Modifications", "modifying"),
        "delete": ("Destroying", "Destruction", "destroying")}

    def __init__(self, out: Console, every: float = STILL_EVERY_SECONDS) -> None:
        self.out = out
        self.every = every
        self.running: dict[Step, tuple[float, int]] = {}  # step -> (started, 'Still' lines printed)
        self.lock = threading.Lock()
        self.closed = threading.Event()
        self.ticker = threading.Thread(target=self._still, name="fldecl-still", daemon=True)

    def __enter__(self) -> StepPrinter:
        self.ticker.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.closed.set()

    def step_started(self, step: Step) -> None:
        with self.lock:
            self.running[step] = (time.monotonic(), 0)
        self.out.print(Text(f"{step[1]}: {self.VERBS[step[0]][0]}..."))

    def step_retrying(self, step: Step, message: str, attempt: int, delay: float) -> None:
        self.out.print(Text(f"{step[1]}: attempt {attempt} failed ({message}); retrying in {delay:.1f}s", style="yellow"))

    def step_finished(self, step: Step, outcome: str, message: str, seconds: float) -> None:
        with self.lock:
            self.running.pop(step, None)
        noun = self.VERBS[step[0]][1]
        if outcome == "ok":
            self.out.print(Text(f"{step[1]}: {noun} complete after {seconds:.1f}s [{message}]"))
        elif outcome == "skipped":
            self.out.print(Text(f"{step[1]}: skipped, {scrub(message)}", style="yellow"))
        elif outcome == "interrupted":
            self.out.print(Text(f"{step[1]}: {noun} interrupted after {elapsed(seconds)}", style="yellow"))
        else:
            self.out.print(Text(f"{step[1]}: {noun} failed: {scrub(message)}", style="red"))

    def _still(self) -> None:
        while not self.closed.wait(min(1.0, self.every / 2)):
            now = time.monotonic()
            with self.lock:
                due = []
                for step, (started, printed) in self.running.items():
                    if now - started >= self.every * (printed + 1):
                        self.running[step] = (started, printed + 1)
                        due.append((step, self.every * (printed + 1)))
            for step, seconds in due:
                self.out.print(Text(f"{step[1]}: Still {self.VERBS[step[0]][2]}... [{elapsed(seconds)} elapsed]"))


class LineReporter:
    """Progress from long provider calls, one line each; on a terminal, a bar of each training's rounds as well."""

    def __init__(self) -> None:
        self.out = console()
        self.bars: Progress | None = None
        self.tasks: dict[str, TaskID] = {}

    def progress(self, address: str, message: str) -> None:
        self.out.print(Text(f"{address}: {scrub(message)}", style="cyan"))

    def rounds(self, address: str, completed: int, total: int) -> None:
        """A training's rounds so far, as a bar (on a terminal only: a CI log has the lines)."""
        if not self.out.is_terminal or total <= 0:
            return
        if self.bars is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # only on a terminal

            self.bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("rounds"),
                                 TimeElapsedColumn(), console=self.out, transient=True)
            self.bars.start()
        if address not in self.tasks:
            self.tasks[address] = self.bars.add_task(address, total=total)
        self.bars.update(self.tasks[address], completed=completed, total=total)
        if all(task.finished for task in self.bars.tasks):
            self.close()

    def close(self) -> None:
        if self.bars is not None:
            self.bars.stop()
            self.bars, self.tasks = None, {}
