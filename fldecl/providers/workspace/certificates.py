"""``CertificateAuthority`` and ``PartyCertificate`` files: keys and certificates, re-inspected on every read."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

from fldecl import pki
from fldecl.core.contract import AdoptRequest, CreateRequest, DeleteRequest, Desired, DiscoverRequest, Observed, ProviderContext
from fldecl.core.errors import NotFoundError, ProviderError
from fldecl.kinds.certificates import CERTIFICATE_AUTHORITY, PARTY_CERTIFICATE
from fldecl.providers.store import Record
from fldecl.providers.workspace.records import WorkspaceRecords

T = TypeVar("T")
#: The last inspection of the record's files (their digests and facts), so unchanged files are not parsed again.
INSPECTION = "inspection"


class _Certificates(WorkspaceRecords, ABC):
    """What both kinds share: inspection on read, optional key-file deletion, import and discovery of existing files."""

    def delete(self, request: DeleteRequest, ctx: ProviderContext) -> None:
        current = request.current
        self.drop_record(request, ctx, [current.attributes[key] for key in ("key_file", "cert_file") if current.attributes.get(key)])

    def adopt(self, request: AdoptRequest, ctx: ProviderContext) -> Observed:
        """Import files made elsewhere (e.g. by the notebook): they must exist and pass inspection."""
        desired = request.desired
        cert_file = ctx.stack_dir / desired.attributes["cert_file"]
        key_file = desired.attributes.get("key_file")
        try:
            facts = pki.inspect(cert_file, ctx.stack_dir / key_file if key_file else None)
        except pki.PKIError as exc:
            raise NotFoundError(f"cannot import {desired.address}: {exc}") from exc
        return self.record(desired, facts.fingerprint_sha256, _entity(facts)).observed()

    def discover(self, request: DiscoverRequest, ctx: ProviderContext) -> Observed | None:
        """Key and certificate files at the declared paths that no record knows (a lost ``.fldecl/``, or
        files made before the first apply): recorded and used if they pass every rule, chain to the
        declared CA and carry the declared subject; else shown replaced, with why."""
        desired = request.desired
        spec = desired.attributes
        cert_file = ctx.stack_dir / spec["cert_file"]
        key_file = ctx.stack_dir / spec["key_file"] if spec.get("key_file") else None
        if not cert_file.exists() or (key_file is not None and not key_file.exists()):
            return None
        found = ", ".join(str(path.relative_to(ctx.stack_dir)) for path in (key_file, cert_file) if path is not None)
        try:
            facts = pki.inspect(cert_file, key_file, self.authority_of(desired, ctx))
        except pki.PKIError as exc:
            problems, made_id = [str(exc)], f"found:{cert_file}"
        else:
            problems, made_id = facts.problems + _subject_problems(spec, facts), facts.fingerprint_sha256
            if not problems:
                record = self.record(desired, made_id, _entity(facts))
                status = f"found at {found}; valid until {facts.not_after:%Y-%m-%d} ({int(facts.days_left())} days)"
                return record.observed(status=status, document=facts.to_dict())
        reason = f"the files found at {found} cannot be used ({'; '.join(problems)}): apply makes new ones and sets these aside"
        return Observed(self.kind, desired.name, made_id, list(desired.tags), dict(spec), status="found, unusable",
                        replace_reason=reason)

    @abstractmethod
    def authority_of(self, desired: Desired, ctx: ProviderContext) -> Path | None:
        """The CA certificate the resource's certificate must chain to."""

    def inspected(self, record: Record, ctx: ProviderContext, ca_cert: Path | None) -> Observed:
        """The record as its files are now, their chain checked against ``ca_cert``."""
        attributes = record.attributes
        key_file = attributes.get("key_file")
        recorded = record.entity.get(INSPECTION)
        try:
            facts, inspection = pki.inspect_unless_recorded(ctx.stack_dir / attributes["cert_file"],
                                                            ctx.stack_dir / key_file if key_file else None, ca_cert, recorded)
        except pki.PKIError as exc:
            return record.observed(status="missing", replace_reason=str(exc))
        if inspection is not recorded:  # the files changed, or were never inspected where they are read
            self.store.update(record.id, entity={**facts.to_dict(), INSPECTION: inspection})
        status = f"valid until {facts.not_after:%Y-%m-%d} ({int(facts.days_left())} days)"
        return record.observed(status=status, replace_reason=_replace_reason(record, facts), document=facts.to_dict())


class CertificateAuthorities(_Certificates):
    kind = CERTIFICATE_AUTHORITY.name

    def observe(self, record: Record, ctx: ProviderContext) -> Observed:
        return self.inspected(record, ctx, None)

    def authority_of(self, desired: Desired, ctx: ProviderContext) -> Path | None:
        return ctx.stack_dir / str(desired.attributes["cert_file"])  # a CA certificate is its own issuer

    def create(self, request: CreateRequest, ctx: ProviderContext) -> Observed:
        desired = request.desired
        spec = desired.attributes
        if not spec.get("key_file"):
            raise ProviderError(f"{desired.address} has no key_file: its owner keeps the key, and its certificate "
                                f"{spec['cert_file']} is not in the stack (or does not pass the rules); commit the CA's certificate there")
        key_file, cert_file = ctx.stack_dir / spec["key_file"], ctx.stack_dir / spec["cert_file"]
        _set_aside(key_file, cert_file)
        facts = _pki_call(lambda: pki.create_ca(pki.Subject.from_dict(spec["subject"]), spec["validity_days"], key_file, cert_file))
        return self.record(desired, facts.fingerprint_sha256, _entity(facts)).observed()


class PartyCertificates(_Certificates):
    kind = PARTY_CERTIFICATE.name

    def observe(self, record: Record, ctx: ProviderContext) -> Observed:
        """The certificate's chain is checked against its issuer's, if the stack owns that CA (a stack has few parties)."""
        issuer = self.store.get(str(record.attributes.get("issuer", "")))
        if issuer is None or issuer.kind != CERTIFICATE_AUTHORITY.name or ctx.owner_tag not in issuer.tags:
            return self.inspected(record, ctx, None)
        return self.inspected(record, ctx, ctx.stack_dir / issuer.attributes["cert_file"])

    def authority_of(self, desired: Desired, ctx: ProviderContext) -> Path | None:
        issuer = desired.dependency(desired.attributes["issuer"])
        return ctx.stack_dir / issuer.attributes["cert_file"] if issuer is not None else None

    def create(self, request: CreateRequest, ctx: ProviderContext) -> Observed:
        desired = request.desired
        spec = desired.attributes
        issuer = desired.dependency(spec["issuer"])
        if issuer is None or issuer.kind != CERTIFICATE_AUTHORITY.name:
            raise ProviderError(f"the issuer of {desired.address} does not exist")
        if not issuer.attributes.get("key_file"):
            raise ProviderError(f"{desired.address}: {spec['cert_file']} is missing or unusable, and only the owner of "
                                f"{issuer.address}'s key can issue it: have them sign {spec.get('csr_file') or 'the party CSR'} "
                                "and commit the certificate")
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
        return self.record(desired, facts.fingerprint_sha256, _entity(facts)).observed()


def _entity(facts: pki.CertFacts) -> dict[str, object]:
    """What a create records: the facts, and their record (its key check counts for the first read)."""
    return {**facts.to_dict(), INSPECTION: {"inputs": None, "facts": facts.to_record()}}


def _subject_problems(spec: dict[str, object], facts: pki.CertFacts) -> list[str]:
    """How a found certificate's subject differs from the declared one (a CSR's subject is the party's own)."""
    declared = spec.get("subject")
    if spec.get("csr_file") or not isinstance(declared, dict):
        return []
    differing = sorted(key for key, value in declared.items() if facts.subject.get(key) != value)
    return [f"its subject has {key}={facts.subject.get(key)!r}, not the declared {declared[key]!r}" for key in differing]


def _replace_reason(record: Record, facts: pki.CertFacts) -> str | None:
    if facts.fingerprint_sha256 != record.id:
        return "certificate file changed outside fldecl"
    if facts.problems:
        return "; ".join(facts.problems)
    renew = record.attributes.get("renew_before_days", 30)
    if facts.days_left() < renew:
        return f"certificate expires in {max(0, int(facts.days_left()))} days (renewal window: {renew} days)"
    return None


def _set_aside(*paths: Path) -> None:
    """Rename files a new key would overwrite: losing a key cannot be undone."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
    for path in paths:
        if path.exists():
            path.rename(path.with_name(f"{path.name}.replaced-{stamp}"))


def _pki_call(action: Callable[[], T]) -> T:
    try:
        return action()
    except pki.PKIError as exc:
        raise ProviderError(str(exc)) from exc


