"""The party PKI: the consortium CA, party keys and certificates, their rules, and mutual TLS.

Every key is RSA 4096 with public exponent 65537, every signature SHA-256, every file PEM, and
private keys are unencrypted and written owner-only (0600), as WML's homomorphic-encryption
parties require. Names are imported on first use (:mod:`fldecl.lazy`): a plan whose certificate
files did not change reads their facts from :mod:`fldecl.pki.facts` without cryptography.
"""

from __future__ import annotations

from fldecl.lazy import lazy_exports

_EXPORTS = {
    "create_ca": "fldecl.pki.certificates",
    "csr_problems": "fldecl.pki.certificates",
    "generate_csr": "fldecl.pki.certificates",
    "issue_certificate": "fldecl.pki.certificates",
    "sign_csr": "fldecl.pki.certificates",
    "verify_chain": "fldecl.pki.chain",
    "PKIError": "fldecl.pki.errors",
    "inspect": "fldecl.pki.inspection",
    "inspect_unless_recorded": "fldecl.pki.facts",
    "EncryptedKeyError": "fldecl.pki.files",
    "load_certificate": "fldecl.pki.files",
    "load_csr": "fldecl.pki.files",
    "load_private_key": "fldecl.pki.files",
    "KEY_SIZE": "fldecl.pki.keys",
    "PUBLIC_EXPONENT": "fldecl.pki.keys",
    "SIGNATURE_HASH": "fldecl.pki.keys",
    "public_key_from_certificate": "fldecl.pki.keys",
    "CertFacts": "fldecl.pki.facts",
    "Subject": "fldecl.pki.subject",
    "client_ssl_context": "fldecl.pki.tls",
    "server_ssl_context": "fldecl.pki.tls",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
