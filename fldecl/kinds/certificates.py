"""``CertificateAuthority`` and ``PartyCertificate``: the consortium's PKI, as files in the stack."""

from __future__ import annotations

from fldecl import pki
from fldecl.core.diagnostics import Diagnostics
from fldecl.core.stack import Declaration, Kind, Stack


def _subject_for_generated_keys(decl: Declaration, stack: Stack, diagnostics: Diagnostics) -> None:
    if "key_file" in decl.spec and "subject" not in decl.spec:
        diagnostics.error("missing subject: a certificate fldecl generates a key for needs a subject", decl.locate(()), "spec.subject")


def _renewal_inside_validity(decl: Declaration, stack: Stack, diagnostics: Diagnostics) -> None:
    if decl.spec["renew_before_days"] >= decl.spec["validity_days"]:
        diagnostics.error("renew_before_days must be shorter than validity_days, or every plan renews",
                          decl.locate(("renew_before_days",)), "spec.renew_before_days")


def _csr_follows_the_key_rules(decl: Declaration, stack: Stack, diagnostics: Diagnostics) -> None:
    """A party's CSR is its own file: what it asks for is known before anything is signed."""
    csr_file = decl.spec.get("csr_file")
    path = stack.inside(csr_file) if csr_file else None
    if path is None or not path.is_file():
        return  # no CSR, or a path the generic rules already report
    problems = pki.csr_problems(path)
    if problems:
        diagnostics.error(f"the CSR {csr_file} cannot be signed: {'; '.join(problems)}", decl.locate(("csr_file",)), "spec.csr_file",
                          f"ask the party for a new CSR: an RSA {pki.KEY_SIZE}-bit key with exponent {pki.PUBLIC_EXPONENT}, "
                          f"signed with {pki.SIGNATURE_HASH}")


CERTIFICATE_AUTHORITY = Kind("CertificateAuthority", rules=(_subject_for_generated_keys, _renewal_inside_validity))
PARTY_CERTIFICATE = Kind("PartyCertificate", rules=(_subject_for_generated_keys, _renewal_inside_validity, _csr_follows_the_key_rules))
