"""``RemoteTrainingSystem``: one party as WML registers it; WML's rule on who may run it."""

from __future__ import annotations

from fldecl.core.diagnostics import Diagnostics
from fldecl.core.stack import Declaration, Kind, Stack


def _someone_may_run_it(decl: Declaration, stack: Stack, diagnostics: Diagnostics) -> None:
    """WML lets a party join a training only as one of its RTS's allowed identities: with none, no party ever can."""
    if not decl.spec.get("allowed_identities"):
        where = ("allowed_identities",) if "allowed_identities" in decl.spec else ()
        diagnostics.error("WML requires at least one allowed identity: without one no party can run this remote training system",
                          decl.locate(where), "spec.allowed_identities",
                          "add allowed_identities: [{id: IAM_ID, type: user}] (the user or service id that runs the party)")


REMOTE_TRAINING_SYSTEM = Kind("RemoteTrainingSystem", backend_rules={"wml": (_someone_may_run_it,)})
