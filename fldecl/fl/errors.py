"""The exceptions of the federated runtime, each a reason a person reads in one line."""

from __future__ import annotations


class TrainingFailed(Exception):
    """Ends the training in state ``failed`` with this reason."""


class TrainingCanceled(Exception):
    """Ends the training in state ``canceled`` (SIGTERM)."""


class PartyError(Exception):
    """Why this party stopped, in one line."""


class ClientError(Exception):
    """A model or setting this party cannot train with."""


class FusionError(Exception):
    """Updates that cannot be fused: the round fails with this reason."""


class WireError(Exception):
    """A peer sent something that is not a valid frame."""


class ConnectionClosed(WireError):
    """The peer closed the connection (or died): it will not answer."""
