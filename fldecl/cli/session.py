"""What every command shares: loading the stack, wiring providers, printing errors, exit codes.

Errors a user can act on (every :class:`~fldecl.errors.FldeclError`) are printed as one line and
exit 1; secrets from the environment are scrubbed from everything printed; a bug prints a short
note (the traceback only with ``FLDECL_DEBUG=1``).
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TextIO, TypeVar, cast

import click
from rich.console import Console
from rich.text import Text

from fldecl.cli.signals import stop_on_signals
from fldecl.core.contract import ProviderContext, Reporter
from fldecl.core.diagnostics import Diagnostics
from fldecl.core.errors import StackInvalid, StateError
from fldecl.core.reconciler import Reconciler
from fldecl.core.stack import Stack
from fldecl.errors import FldeclError
from fldecl.interrupt import Interrupted
from fldecl.kinds import load_stack
from fldecl.variables import CREDENTIAL_VARIABLES, SENSITIVE_VALUE

T = TypeVar("T")
#: Variables whose values are never printed: WML's credentials, and those the loaded stack lists.
SECRET_VARIABLES: set[str] = set(CREDENTIAL_VARIABLES)


class UserError(click.ClickException):
    """An error the user can fix: printed as ``Error: ...``, exit 1."""

    exit_code = 1

    def format_message(self) -> str:
        return scrub(self.message)


def scrub(text: str) -> str:
    """``text`` with the value of every secret variable replaced by ``(sensitive value)``."""
    for name in SECRET_VARIABLES:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, SENSITIVE_VALUE)
    return text


class _Scrubbed:
    """A stream that scrubs what is written to it, so nothing a console prints can carry a secret."""

    def __init__(self, target: TextIO) -> None:
        self.target = target

    def write(self, text: str) -> int:
        return self.target.write(scrub(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


@functools.cache
def console(stderr: bool = False) -> Console:
    """The one console per stream, so that a progress bar and the lines printed above it share it.

    ``NO_COLOR`` (https://no-color.org) set to anything turns every escape sequence off, bold and dim included: what is
    printed is plain text.
    """
    stream = cast(TextIO, _Scrubbed(sys.stderr if stderr else sys.stdout))  # rich only writes, flushes and asks the stream's terminal
    plain = bool(os.environ.get("NO_COLOR"))
    return Console(file=stream, highlight=False, soft_wrap=True, color_system=None if plain else "auto", no_color=plain)


def fail(message: str) -> NoReturn:
    raise UserError(message)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn every :class:`~fldecl.errors.FldeclError` into a one-line error with exit code 1.

    Anything else is a bug: a short "internal error" note (the traceback with ``FLDECL_DEBUG=1``).
    """
    try:
        yield
    except StackInvalid as exc:
        print_diagnostics(exc.diagnostics)
        raise UserError(f"the stack is invalid: {len(exc.diagnostics.errors)} error(s)") from None
    except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, KeyboardInterrupt, Interrupted):
        raise  # Ctrl-C's Interrupted is no error: the command exits 130 (see signals)
    except FldeclError as exc:
        raise UserError(str(exc)) from None
    except Exception as exc:
        if os.environ.get("FLDECL_DEBUG"):
            import traceback

            traceback.print_exc()
        raise UserError(f"internal error: {type(exc).__name__}: {exc} (set FLDECL_DEBUG=1 for the traceback)") from None


def print_diagnostics(diagnostics: Diagnostics) -> None:
    err = console(stderr=True)

    for item in diagnostics.sorted():
        err.print(Text(scrub(item.render()), style="red" if item.severity == "error" else "yellow"))


def load(stack_dir: Path, backend: str | None = None) -> Stack:
    """The stack with every kind's rules (:mod:`fldecl.kinds`)."""
    stack = load_stack(stack_dir, backend_override=backend)
    SECRET_VARIABLES.update(stack.sensitive_variables)
    return stack


def reconciler(stack: Stack, *, wait: bool = True, reporter: Reporter | None = None) -> Reconciler:
    """The stack's reconciler, wired to its backend's providers; ``wait=False`` for ``--no-wait``."""
    from fldecl.cli.progress import LineReporter  # lazy: progress prints through this module's console
    from fldecl.providers import providers_for  # lazy: validate and graph need no backend

    ensure_state_dir(stack.state_dir)
    ctx = ProviderContext(stack.name, stack.directory, stack.state_dir, stack.owner_tag, reporter or LineReporter(), wait)
    return Reconciler(stack, providers_for(stack.backend, stack.state_dir, stack.backend_settings), ctx)


def ensure_state_dir(state_dir: Path) -> None:
    """``.fldecl/`` holds state and never belongs in Git: it ignores itself."""
    ignore = state_dir / ".gitignore"
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        if not ignore.exists():
            ignore.write_text("# fldecl's local state; never commit it\n*\n")
    except OSError as exc:
        raise StateError(f"cannot write fldecl's state directory {state_dir}: {exc.strerror or exc} "
                         "(the stack directory must be writable: fldecl keeps its state in .fldecl/)") from None


def guarded(action: Callable[..., T]) -> Callable[..., T]:
    """Decorator for command bodies: known errors become ``Error: ...`` and exit 1; Ctrl-C and SIGTERM stop every wait."""
    @functools.wraps(action)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        stop_on_signals()
        with user_errors():
            return action(*args, **kwargs)

    return wrapper


def is_interactive() -> bool:
    return sys.stdin.isatty()
