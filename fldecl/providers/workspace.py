"""The workspace provider: resources that are files in the stack directory, whatever the backend.

Like Terraform's ``tls`` and ``local`` providers, it serves the CA, the party certificates and
the data splits. What it made is recorded in ``.fldecl/workspace.db``; each read re-inspects the
files themselves (pyinfra's facts), so a certificate inside its renewal window, a key that
breaks the rules, a broken chain or a file changed behind fldecl's back plans a replacement.
A resource's id is the fingerprint of what it produced (the certificate, the data), so a change
there ripples to everything that refers to it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fldecl.providers.base import Desired, NotFoundError, Observed, ProviderContext, ProviderError
from fldecl.providers.store import Record, ResourceStore


class WorkspaceProvider:
    kinds = frozenset({"CertificateAuthority", "PartyCertificate", "DataSplit"})

    def __init__(self, state_dir: Path) -> None:
        self.store = ResourceStore(state_dir / "workspace.db")

    @property
    def calls(self) -> int:
        return self.store.queries

    def read(self, kind: str, ctx: ProviderContext) -> list[Observed]:
        records = self.store.list(kind, ctx.owner_tag)
        if kind == "PartyCertificate":
            authorities = {r.id: r for r in self.store.list("CertificateAuthority", ctx.owner_tag)}
            return [self._observe_certificate(r, ctx, authorities.get(r.attributes.get("issuer", ""))) for r in records]
        if kind == "CertificateAuthority":
            return [self._observe_certificate(r, ctx, None) for r in records]
        return [self._observe_split(r, ctx) for r in records]

    def create(self, desired: Desired, ctx: ProviderContext) -> Observed:
        made_id, entity = _MAKERS[desired.kind](desired, ctx)
        return self._record(desired, made_id, entity).observed()

    def update(self, current: Observed, desired: Desired, changed: list[str], ctx: ProviderContext) -> Observed:
        # Only fields that do not force replacement get here (e.g. renew_before_days): record them.
        return self.store.update(current.id, attributes=desired.attributes).observed()

    def delete(self, current: Observed, ctx: ProviderContext) -> None:
        if ctx.options.get("delete_key_files") and current.kind != "DataSplit":
            for key in ("key_file", "cert_file"):
                if current.attributes.get(key):
                    (ctx.stack_dir / current.attributes[key]).unlink(missing_ok=True)
        self.store.delete(current.id)

    def adopt(self, resource_id: str, desired: Desired, ctx: ProviderContext) -> Observed:
        """Import files made elsewhere (e.g. by the notebook): they must exist and pass inspection."""
        if desired.kind == "DataSplit":
            from fldecl.data import output_paths, outputs_digest

            paths = output_paths(desired.attributes, ctx.stack_dir)
            missing = [str(p) for p in paths if not p.is_file()]
            if missing:
                raise NotFoundError(f"cannot import {desired.address}: missing {', '.join(missing)}")
            return self._record(desired, outputs_digest(paths), {"files": [str(p) for p in paths]}).observed()
        from fldecl import pki

        cert_file = ctx.stack_dir / desired.attributes["cert_file"]
        key_file = desired.attributes.get("key_file")
        try:
            facts = pki.inspect(cert_file, ctx.stack_dir / key_file if key_file else None)
        except pki.PKIError as exc:
            raise NotFoundError(f"cannot import {desired.address}: {exc}") from exc
        return self._record(desired, facts.fingerprint_sha256, _facts_entity(facts)).observed()

    def _record(self, desired: Desired, made_id: str, entity: dict[str, Any]) -> Record:
        stale = self.store.get(made_id)
        if stale:  # the same files recorded before (an interrupted run): take them over
            return self.store.update(made_id, name=desired.name, tags=desired.tags, attributes=desired.attributes, entity=entity)
        return self.store.insert(desired.kind, desired.name, desired.tags, desired.attributes, entity=entity, record_id=made_id)

    def _observe_certificate(self, record: Record, ctx: ProviderContext, authority: Record | None) -> Observed:
        from fldecl import pki

        attributes = record.attributes
        key_file = attributes.get("key_file")
        ca_cert = ctx.stack_dir / authority.attributes["cert_file"] if authority else None
        try:
            facts = pki.inspect(ctx.stack_dir / attributes["cert_file"], ctx.stack_dir / key_file if key_file else None, ca_cert)
        except pki.PKIError as exc:
            return record.observed(status="missing", replace_reason=str(exc))
        reason = _certificate_reason(record, facts, attributes)
        status = f"valid until {facts.not_after:%Y-%m-%d} ({int(facts.days_left())} days)"
        return record.observed(status=status, replace_reason=reason, details=_facts_entity(facts))

    def _observe_split(self, record: Record, ctx: ProviderContext) -> Observed:
        from fldecl.data import output_paths, outputs_digest

        paths = output_paths(record.attributes, ctx.stack_dir)
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            return record.observed(status="missing", replace_reason=f"output files missing: {', '.join(missing)}")
        if outputs_digest(paths) != record.id:
            return record.observed(status="changed", replace_reason="output files changed outside fldecl")
        return record.observed(status=f"{len(paths)} files")


def _certificate_reason(record: Record, facts: Any, attributes: dict[str, Any]) -> str | None:
    if facts.fingerprint_sha256 != record.id:
        return "certificate file changed outside fldecl"
    if facts.problems:
        return "; ".join(facts.problems)
    renew = attributes.get("renew_before_days", 30)
    if facts.days_left() < renew:
        return f"certificate expires in {max(0, int(facts.days_left()))} days (renewal window: {renew} days)"
    return None


def _facts_entity(facts: Any) -> dict[str, Any]:
    return facts.to_dict()


def _set_aside(*paths: Path) -> None:
    """Rename files a new key would overwrite: losing a key cannot be undone."""
    from datetime import datetime, timezone

    stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
    for path in paths:
        if path.exists():
            path.rename(path.with_name(f"{path.name}.replaced-{stamp}"))


def _make_authority(desired: Desired, ctx: ProviderContext) -> tuple[str, dict[str, Any]]:
    from fldecl import pki

    spec = desired.attributes
    _set_aside(ctx.stack_dir / spec["key_file"], ctx.stack_dir / spec["cert_file"])
    facts = _pki_call(lambda: pki.create_ca(pki.Subject.from_dict(spec["subject"]), spec["validity_days"],
                                            ctx.stack_dir / spec["key_file"], ctx.stack_dir / spec["cert_file"]))
    return facts.fingerprint_sha256, _facts_entity(facts)


def _make_party_certificate(desired: Desired, ctx: ProviderContext) -> tuple[str, dict[str, Any]]:
    from fldecl import pki

    spec = desired.attributes
    issuer = next((obs for obs in desired.dependencies.values() if obs.kind == "CertificateAuthority" and obs.id == spec["issuer"]), None)
    if issuer is None:
        raise ProviderError(f"the issuer of {desired.address} does not exist")
    ca_key, ca_cert = (ctx.stack_dir / issuer.attributes[k] for k in ("key_file", "cert_file"))
    cert = ctx.stack_dir / spec["cert_file"]
    if spec.get("csr_file"):
        facts = _pki_call(lambda: pki.sign_csr(ca_key, ca_cert, ctx.stack_dir / spec["csr_file"], spec.get("subject_alt_names"),
                                               spec["validity_days"], cert))
    else:
        _set_aside(ctx.stack_dir / spec["key_file"])
        facts = _pki_call(lambda: pki.issue_certificate(ca_key, ca_cert, pki.Subject.from_dict(spec["subject"]),
                                                        spec["subject_alt_names"], spec["validity_days"],
                                                        ctx.stack_dir / spec["key_file"], cert))
    return facts.fingerprint_sha256, _facts_entity(facts)


def _make_split(desired: Desired, ctx: ProviderContext) -> tuple[str, dict[str, Any]]:
    from fldecl.data import DataError, outputs_digest, split

    try:
        paths = split(desired.attributes, ctx.stack_dir)
    except DataError as exc:
        raise ProviderError(f"{desired.address}: {exc}") from exc
    return outputs_digest(paths), {"files": [str(p.relative_to(ctx.stack_dir)) for p in paths]}


def _pki_call(action: Callable[[], Any]) -> Any:
    from fldecl import pki

    try:
        return action()
    except pki.PKIError as exc:
        raise ProviderError(str(exc)) from exc


_MAKERS: dict[str, Callable[[Desired, ProviderContext], tuple[str, dict[str, Any]]]] = {
    "CertificateAuthority": _make_authority,
    "PartyCertificate": _make_party_certificate,
    "DataSplit": _make_split,
}
