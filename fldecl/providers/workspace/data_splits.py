"""``DataSplit`` files: one npz per party, recorded by the digest of their content."""

from __future__ import annotations

from fldecl.core.contract import AdoptRequest, CreateRequest, DeleteRequest, Observed, ProviderContext
from fldecl.core.errors import NotFoundError, ProviderError
from fldecl.data.errors import DataError
from fldecl.data.spec import output_paths, outputs_digest
from fldecl.kinds.data_split import DATA_SPLIT
from fldecl.providers.store import Record
from fldecl.providers.workspace.records import WorkspaceRecords


class DataSplits(WorkspaceRecords):
    """Data files are made again deterministically: nothing is lost by not discovering them."""

    kind = DATA_SPLIT.name

    def create(self, request: CreateRequest, ctx: ProviderContext) -> Observed:
        from fldecl.data.splitting import split  # lazy: numpy (and scikit-learn for the digits) only to split

        desired = request.desired
        try:
            paths = split(desired.attributes, ctx.stack_dir)
        except DataError as exc:
            raise ProviderError(f"{desired.address}: {exc}") from exc
        entity = {"files": [str(p.relative_to(ctx.stack_dir)) for p in paths]}
        return self.record(desired, outputs_digest(paths), entity).observed()

    def delete(self, request: DeleteRequest, ctx: ProviderContext) -> None:
        """The record goes; the data files too with ``delete_key_files`` (otherwise the next apply takes them again)."""
        paths = output_paths(request.current.attributes, ctx.stack_dir)
        self.drop_record(request, ctx, [str(path.relative_to(ctx.stack_dir)) for path in paths])

    def adopt(self, request: AdoptRequest, ctx: ProviderContext) -> Observed:
        """Import files made elsewhere (e.g. by the notebook): they must exist; ``request.resource_id`` is not used."""
        desired = request.desired
        paths = output_paths(desired.attributes, ctx.stack_dir)
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise NotFoundError(f"cannot import {desired.address}: missing {', '.join(missing)}")
        return self.record(desired, outputs_digest(paths), {"files": [str(p) for p in paths]}).observed()

    def observe(self, record: Record, ctx: ProviderContext) -> Observed:
        paths = output_paths(record.attributes, ctx.stack_dir)
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            return record.observed(status="missing", replace_reason=f"output files missing: {', '.join(missing)}")
        if outputs_digest(paths) != record.id:
            return record.observed(status="changed", replace_reason="output files changed outside fldecl")
        return record.observed(status=f"{len(paths)} files")
