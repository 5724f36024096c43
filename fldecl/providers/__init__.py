"""Providers: the backends behind the one contract in :mod:`fldecl.providers.base`.

``workspace`` always serves the file resources (CA, certificates, data splits); the stack's
backend (``local`` or ``wml``) serves models, remote training systems and trainings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fldecl.providers.base import Provider, ProviderError

BACKENDS = ("local", "wml")


def providers_for(backend: str, state_dir: Path, options: dict[str, Any] | None = None) -> dict[str, Provider]:
    """Kind -> provider for a stack on ``backend``. Heavy clients are imported only here."""
    from fldecl.providers.workspace import WorkspaceProvider

    if backend == "local":
        from fldecl.providers.local.provider import LocalProvider

        remote: Provider = LocalProvider(state_dir)
    elif backend == "wml":
        from fldecl.providers.wml.provider import WmlProvider

        remote = WmlProvider.from_environment(state_dir, options or {})
    else:
        raise ProviderError(f"unknown backend {backend!r} (choose one of: {', '.join(BACKENDS)})")
    workspace = WorkspaceProvider(state_dir)
    providers: dict[str, Provider] = {kind: workspace for kind in workspace.kinds}
    providers.update({kind: remote for kind in remote.kinds})
    return providers
