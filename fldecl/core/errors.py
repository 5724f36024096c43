"""The errors the reconciler core raises or passes on: each one is a message a user reads.

Providers raise the first three; the CLI prints every one of them as one line, never as a
traceback. Their place in fldecl's error tree is drawn in :mod:`fldecl.errors`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fldecl.errors import BackendError, InputError

if TYPE_CHECKING:
    from fldecl.core.diagnostics import Diagnostics


class ProviderError(BackendError):
    """A backend failure the user should read: printed as one line, never as a traceback."""


class TransientError(ProviderError):
    """A failure worth retrying (rate limit, 5xx, dropped connection).

    ``retry_after`` carries a server's ``Retry-After`` hint in seconds, when it gave one.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotFoundError(ProviderError):
    """The resource an id names does not exist (e.g. ``fldecl import`` of a wrong id)."""


class PlanError(InputError):
    """The plan cannot be made as asked (e.g. it would destroy a protected resource)."""


class StateError(BackendError):
    """fldecl's own state (the stack's lock, a store in ``.fldecl/``) cannot be read or written; names the file."""


class LockBusy(StateError):
    """Another run holds the stack's lock; the message says who and since when."""


class StackInvalid(InputError):
    """The manifests have errors; carries every diagnostic found."""

    def __init__(self, diagnostics: Diagnostics) -> None:
        super().__init__(f"{len(diagnostics.errors)} error(s) in the stack")
        self.diagnostics = diagnostics
