"""Certificate facts as a record: what the files said, read back without parsing them again.

:func:`fldecl.pki.inspection.inspect` parses the files (and imports cryptography); the
:class:`CertFacts` it returns splits what the bytes decide once and for all (key size, exponent,
hash, issuer, chain signature, whether the key matches) from what depends on the time (the
validity windows). A plan whose files have the same digests as when they were last inspected
reads the record and checks the windows at the current time: every check is made, none of the
bytes are parsed twice. This module imports no cryptography.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

EXPIRED, NOT_YET_VALID = "expired", "not yet valid"


def utc_now_or(now: datetime | None) -> datetime:
    """``now`` as an aware UTC datetime (naive values are taken as UTC), or the current time."""
    if now is None:
        return datetime.now(timezone.utc)
    return now.replace(tzinfo=timezone.utc) if now.tzinfo is None else now.astimezone(timezone.utc)


def format_time(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


@dataclass(frozen=True)
class ValidityWindow:
    """When a certificate is valid; ``holder`` names it in messages (``certificate for CN=Party_1``)."""

    holder: str
    not_before: datetime
    not_after: datetime

    def state(self, now: datetime | None = None) -> str | None:
        """``EXPIRED`` or ``NOT_YET_VALID`` at ``now``, or None while the certificate is valid."""
        now = utc_now_or(now)
        if now > self.not_after:
            return EXPIRED
        if now < self.not_before:
            return NOT_YET_VALID
        return None

    def problems(self, now: datetime | None = None) -> list[str]:
        """Why the certificate is not valid at ``now`` (empty when it is)."""
        state = self.state(now)
        if state == EXPIRED:
            return [f"{self.holder} expired on {format_time(self.not_after)}"]
        if state == NOT_YET_VALID:
            return [f"{self.holder} is not yet valid (valid from {format_time(self.not_before)})"]
        return []


@dataclass
class CertFacts:
    """A certificate (and optionally its key file) as found on disk, with every rule it breaks.

    ``key_*`` fields are None when no key file was inspected; ``key_matches_cert`` is also None
    when the key is encrypted and so cannot be read. ``chain_ok`` is None when no CA was given.
    ``public_exponent`` is 0 for a non-RSA key. An empty ``problems`` means the files are usable.
    ``lasting_problems`` are those the bytes decide; ``windows`` (the certificate's, and the CA's)
    decide the rest at any time (:meth:`at`). ``key_sha256`` is the digest of the key file whose
    consistency was checked; it stays out of :meth:`to_dict`, which ``show`` prints.
    """

    subject: dict[str, str]
    issuer: dict[str, str]
    serial: str
    fingerprint_sha256: str
    not_before: datetime
    not_after: datetime
    subject_alt_names: list[str]
    key_size: int
    public_exponent: int
    signature_hash: str
    is_ca: bool
    key_file_mode: int | None
    key_encrypted: bool | None
    key_matches_cert: bool | None
    chain_ok: bool | None
    problems: list[str]
    key_sha256: str | None = None
    lasting_problems: list[str] = field(default_factory=list)
    windows: list[ValidityWindow] = field(default_factory=list)
    chain_issued: bool | None = None

    @classmethod
    def judged(cls, now: datetime | None, **fields: Any) -> CertFacts:
        """The facts with their problems and chain verdict worked out at ``now``."""
        return cls(**fields, problems=[], chain_ok=None).at(now)

    def at(self, now: datetime | None = None) -> CertFacts:
        """These facts as of ``now``: the lasting problems and each window's verdict at that time."""
        window_problems = [problem for window in self.windows for problem in window.problems(now)]
        chain_ok = None if self.chain_issued is None else self.chain_issued and not window_problems
        return dataclasses.replace(self, problems=self.lasting_problems + window_problems, chain_ok=chain_ok)

    def days_left(self, now: datetime | None = None) -> float:
        """Days until expiry (negative once expired), for renewal windows."""
        return (self.not_after - utc_now_or(now)).total_seconds() / 86400

    def to_dict(self) -> dict[str, Any]:
        """What ``show`` prints: datetimes as ISO 8601, the key file mode in octal as ``ls`` shows it."""
        facts = dataclasses.asdict(self)
        for internal in ("key_sha256", "lasting_problems", "windows", "chain_issued"):
            del facts[internal]
        facts["not_before"] = self.not_before.isoformat()
        facts["not_after"] = self.not_after.isoformat()
        if self.key_file_mode is not None:
            facts["key_file_mode"] = f"{self.key_file_mode:04o}"
        return facts

    def to_record(self) -> dict[str, Any]:
        """Everything, JSON-ready, for :meth:`from_record`."""
        record = dataclasses.asdict(self)
        for key in ("not_before", "not_after"):
            record[key] = record[key].isoformat()
        record["windows"] = [[w.holder, w.not_before.isoformat(), w.not_after.isoformat()] for w in self.windows]
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> CertFacts:
        values = dict(record)
        for key in ("not_before", "not_after"):
            values[key] = datetime.fromisoformat(values[key])
        values["windows"] = [ValidityWindow(holder, datetime.fromisoformat(start), datetime.fromisoformat(end))
                             for holder, start, end in values["windows"]]
        return cls(**values)


def inspect_unless_recorded(cert_path: Path, key_path: Path | None, ca_cert_path: Path | None,
                            recorded: dict[str, Any] | None, now: datetime | None = None) -> tuple[CertFacts, dict[str, Any]]:
    """The facts of the files, from ``recorded`` (a :meth:`CertFacts.to_record` with its inputs) when the
    files are those it was made from, else inspected afresh; and the record of them to keep."""
    inputs = file_inputs(Path(cert_path), Path(key_path) if key_path else None, Path(ca_cert_path) if ca_cert_path else None)
    if recorded and recorded.get("inputs") == inputs and "facts" in recorded:
        return CertFacts.from_record(recorded["facts"]).at(now), recorded
    from fldecl.pki.inspection import inspect  # lazy: cryptography only for files that changed

    checked = (recorded or {}).get("facts", {}).get("key_sha256")
    facts = inspect(cert_path, key_path, ca_cert_path, now, checked_key_sha256=checked)
    return facts, {"inputs": inputs, "facts": facts.to_record()}


def file_inputs(cert_path: Path, key_path: Path | None, ca_cert_path: Path | None) -> dict[str, Any]:
    """What a certificate's facts depend on: the digests of the files (and the key file's mode)."""
    inputs: dict[str, Any] = {"cert": _digest(cert_path), "ca": _digest(ca_cert_path) if ca_cert_path else None,
                              "key": _digest(key_path) if key_path else None}
    if key_path is not None:
        try:
            inputs["key_mode"] = key_path.stat().st_mode & 0o777
        except OSError:
            inputs["key_mode"] = None
    return inputs


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None
