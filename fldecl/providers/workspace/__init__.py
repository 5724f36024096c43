"""The workspace provider: resources that are files in the stack directory, whatever the backend.

Like Terraform's ``tls`` and ``local`` providers, it serves the CA, the party certificates and
the data splits, one resource type per kind, registered by
:class:`~fldecl.providers.workspace.records.WorkspaceRecords`. What it made is recorded in
``.fldecl/<backend>/workspace.db``; each read re-inspects the files themselves (pyinfra's facts), so a
certificate inside its renewal window, a key that breaks the rules, a broken chain or a file
changed behind fldecl's back plans a replacement. A resource's id is the fingerprint of what
it produced (the certificate, the data), so a change there ripples to everything that refers to it.
"""

from __future__ import annotations

from pathlib import Path

from fldecl.core.contract import ResourceType
from fldecl.providers.store import ResourceStore
from fldecl.providers.workspace import certificates, data_splits  # noqa: F401  (each registers its kinds)
from fldecl.providers.workspace.records import WorkspaceRecords


class WorkspaceProvider:
    def __init__(self, state_dir: Path) -> None:
        self.store = ResourceStore(state_dir / "workspace.db")
        self.resources: dict[str, ResourceType] = {kind: member(self.store) for kind, member in WorkspaceRecords.registry.items()}

    @property
    def calls(self) -> int:
        return self.store.queries
