"""The party PKI: the consortium CA, party keys and certificates, their rules, and mutual TLS.

Every key is RSA 4096 with public exponent 65537, every signature SHA-256, every file PEM, and
private keys are unencrypted and written owner-only (0600), as WML's homomorphic-encryption
parties require.
"""

from __future__ import annotations

from fldecl.pki.certificates import create_ca, csr_problems, generate_csr, issue_certificate, sign_csr
from fldecl.pki.chain import verify_chain
from fldecl.pki.errors import PKIError
from fldecl.pki.facts import CertFacts, inspect
from fldecl.pki.files import EncryptedKeyError, load_certificate, load_csr, load_private_key
from fldecl.pki.keys import KEY_SIZE, PUBLIC_EXPONENT, SIGNATURE_HASH, public_key_from_certificate
from fldecl.pki.subject import Subject
from fldecl.pki.tls import client_ssl_context, server_ssl_context

__all__ = [
    "KEY_SIZE",
    "PUBLIC_EXPONENT",
    "SIGNATURE_HASH",
    "CertFacts",
    "EncryptedKeyError",
    "PKIError",
    "Subject",
    "client_ssl_context",
    "create_ca",
    "csr_problems",
    "generate_csr",
    "inspect",
    "issue_certificate",
    "load_certificate",
    "load_csr",
    "load_private_key",
    "public_key_from_certificate",
    "server_ssl_context",
    "sign_csr",
    "verify_chain",
]
