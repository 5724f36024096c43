"""Every kind's behaviour beyond its JSON Schema, one module per kind: rules, derived attributes,
immutability and what a backend cannot run.

The core knows kinds only through the :class:`~fldecl.core.stack.Kind` records of :data:`KINDS`;
:func:`load_stack` is the core's loader with them, which is what the CLI, the launchers and the
tests use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from fldecl.core import manifest
from fldecl.core.stack import KindTable, Stack
from fldecl.kinds.certificates import CERTIFICATE_AUTHORITY, PARTY_CERTIFICATE
from fldecl.kinds.data_split import DATA_SPLIT
from fldecl.kinds.model import MODEL
from fldecl.kinds.remote_training_system import REMOTE_TRAINING_SYSTEM
from fldecl.kinds.training import TRAINING
from fldecl.variables import CREDENTIAL_VARIABLES

KINDS: KindTable = {kind.name: kind for kind in (CERTIFICATE_AUTHORITY, PARTY_CERTIFICATE, DATA_SPLIT, MODEL, REMOTE_TRAINING_SYSTEM,
                                                  TRAINING)}


def load_stack(directory: Path, env: Mapping[str, str] | None = None, backend_override: str | None = None) -> Stack:
    """The stack in ``directory``, checked with every kind's rules; raises :class:`~fldecl.core.errors.StackInvalid`.

    WML's credentials are always sensitive (:mod:`fldecl.variables`).
    """
    return manifest.load_stack(directory, KINDS, env, backend_override, CREDENTIAL_VARIABLES)


def new_stack(directory: Path, backend: str, tags: Sequence[str]) -> Stack:
    """A stack with no manifests yet, for manifests about to be generated into ``directory``."""
    from fldecl.core.generate import manifest_name  # lazy: every command loads a stack, one generates manifests

    return Stack(manifest_name(directory.resolve().name), directory.resolve(), backend, list(tags), KINDS,
                 sensitive_variables=frozenset(CREDENTIAL_VARIABLES))
