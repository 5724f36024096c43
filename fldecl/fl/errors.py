"""The exceptions of the federated runtime, each a reason a person reads in one line."""

from __future__ import annotations

from fldecl.errors import RuntimeFailure


class TrainingFailed(RuntimeFailure):
    """Ends the training in state ``failed`` with this reason."""


class TrainingCanceled(RuntimeFailure):
    """Ends the training in state ``canceled`` (SIGTERM)."""


class PartyError(RuntimeFailure):
    """Why this party stopped, in one line."""


class ClientError(RuntimeFailure):
    """A model or setting this party cannot train with."""


class FusionError(RuntimeFailure):
    """Updates that cannot be fused: the round fails with this reason."""


class WireError(RuntimeFailure):
    """A peer sent something that is not a valid frame."""


class ConnectionClosed(WireError):
    """The peer closed the connection (or died): it will not answer."""
