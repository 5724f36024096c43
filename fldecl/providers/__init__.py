"""Providers: the backends behind the one contract in :mod:`fldecl.core.contract`.

``workspace`` always serves the file resources (CA, certificates, data splits), its records
kept per backend (``.fldecl/<backend>/``) so that one backend's destroy never forgets what another
uses; the stack's backend (``local``, ``wml`` or ``nvflare``) serves models, remote training
systems and trainings, and runs parties. A backend's package is imported only when a stack uses it
(IBM's client is heavy).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from fldecl.core.contract import Providers
from fldecl.core.errors import ProviderError
from fldecl.providers.workspace import WorkspaceProvider
from fldecl.vocabulary import BACKENDS


def providers_for(backend: str, state_dir: Path, settings: dict[str, Any] | None = None) -> Providers:
    """What a stack on ``backend`` reconciles with; ``settings`` is the Stack's block for that backend."""
    workspace = WorkspaceProvider(_records_dir(state_dir, backend))
    if backend == "local":
        from fldecl.providers.local import LocalProvider  # lazy: only the backend in use is imported

        local = LocalProvider(state_dir)
        return Providers({**workspace.resources, **local.resources}, local, lambda: workspace.calls + local.calls)
    if backend == "wml":
        from fldecl.providers.wml import WmlProvider  # lazy: only the backend in use is imported

        wml = WmlProvider.from_environment()
        return Providers({**workspace.resources, **wml.resources}, wml, lambda: workspace.calls)
    if backend == "nvflare":
        from fldecl.providers.local import LocalProvider, paths  # lazy: models are stored as the local backend stores them
        from fldecl.providers.nvflare import NvflareProvider  # lazy: only the backend in use is imported

        local = LocalProvider(state_dir)
        nvflare = NvflareProvider(state_dir, settings, local.resources["Model"],
                                  lambda model_id: paths.model_content_path(state_dir, model_id), local)
        local.models.trained_model = nvflare.trained_model
        return Providers({**workspace.resources, **nvflare.resources}, nvflare,
                         lambda: workspace.calls + local.calls + nvflare.calls)
    raise ProviderError(f"unknown backend {backend!r} (choose one of: {', '.join(BACKENDS)})")


def _records_dir(state_dir: Path, backend: str) -> Path:
    """Where ``backend`` records the stack's files; a stack directory from before backends kept them apart
    starts from the records they shared (copied, so that each backend's destroy forgets only its own)."""
    records = state_dir / backend
    shared = state_dir / "workspace.db"
    if shared.is_file() and not (records / "workspace.db").exists():
        records.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(shared)) as source, closing(sqlite3.connect(records / "workspace.db")) as copy:
            source.backup(copy)
    return records
