"""The root of every error fldecl raises on purpose, and its three branches.

A caller catches the branch it can act on; the CLI catches :class:`FldeclError` in one place and
prints it as one line with exit code 1, so anything else that reaches it is a bug ("internal
error"). Each package keeps its own classes beside its code and derives them from a branch here;
this module imports nothing, so every layer (the emulator included) can::

    FldeclError
    ├── InputError                     what the user declared, passed or pointed at cannot be used
    │   ├── core.StackInvalid          the manifests have errors (carries every diagnostic)
    │   ├── core.PlanError             the plan cannot be made as asked
    │   ├── variables.UnsetVariable    a ${NAME} the environment does not set
    │   ├── pki.PKIError               a key, certificate or CSR file
    │   │   └── pki.EncryptedKeyError
    │   ├── data.DataError             a data source, split or data handler
    │   └── models.ModelError          a model spec or artifact
    │       └── models.ModelTrustError
    ├── BackendError                   where the stack lives refused or failed
    │   ├── core.ProviderError         a backend's call (IBM's client errors are translated to these)
    │   │   ├── core.TransientError    worth retrying: rate limit, 5xx, dropped connection
    │   │   ├── core.NotFoundError     the id names nothing
    │   │   └── launch.LaunchError     a training or party cannot be launched as declared
    │   ├── core.StateError            fldecl's own state (.fldecl/, the stack's lock)
    │   │   └── core.LockBusy          another run holds the stack's lock
    │   └── emulator.ApiError          the WML emulator's refusal, answered as WML's error document
    └── RuntimeFailure                 a running training, party or key exchange stopped
        ├── fl.TrainingFailed, fl.TrainingCanceled, fl.PartyError, fl.ClientError, fl.FusionError
        ├── fl.Refusal                 a candidate the aggregator does not admit, with the reason
        ├── fl.WireError
        │   └── fl.ConnectionClosed
        ├── he.HEError, he.KeyShareError
        ├── interrupt.Interrupted      Ctrl-C or SIGTERM stopped a wait (the CLI exits 130 or 143, not 1)
        └── emulator: TrainingFailed, Cancelled, PartyGone, FrameError, FusionError, PackageError
"""

from __future__ import annotations


class FldeclError(Exception):
    """An error with a message a person reads in one line: it names the file, field or resource to fix,
    and never carries a secret or key material."""


class InputError(FldeclError):
    """What the user declared, passed or pointed at cannot be used: fix it and run again; nothing changed."""


class BackendError(FldeclError):
    """The backend, or fldecl's own state beside it, refused or failed."""


class RuntimeFailure(FldeclError):
    """A running training, party, key exchange or emulated session stopped, with the reason."""
