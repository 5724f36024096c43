"""``CertificateAuthority`` and ``PartyCertificate``: the consortium's PKI, as files in the stack."""

from __future__ import annotations

from fldecl.core.diagnostics import Diagnostics
from fldecl.core.stack import Declaration, Kind, Stack


def _subject_for_generated_keys(decl: Declaration, stack: Stack, diagnostics: Diagnostics) -> None:
    if "key_file" in decl.spec and "subject" not in decl.spec:
        diagnostics.error("missing subject: a certificate fldecl generates a key for needs a subject", decl.locate(()), "spec.subject")


def _renewal_inside_validity(decl: Declaration, stack: Stack, diagnostics: Diagnostics) -> None:
    if decl.spec["renew_before_days"] >= decl.spec["validity_days"]:
        diagnostics.error("renew_before_days must be shorter than validity_days, or every plan renews",
                          decl.locate(("renew_before_days",)), "spec.renew_before_days")


CERTIFICATE_AUTHORITY = Kind("CertificateAuthority", rules=(_subject_for_generated_keys, _renewal_inside_validity))
PARTY_CERTIFICATE = Kind("PartyCertificate", rules=(_subject_for_generated_keys, _renewal_inside_validity))
