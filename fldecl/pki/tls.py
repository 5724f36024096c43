"""Mutual-TLS contexts from the party PKI, so nothing has to run with ``verify=False``."""

from __future__ import annotations

import ssl
from pathlib import Path

from fldecl.pki.errors import PKIError
from fldecl.pki.files import load_certificate, load_private_key
from fldecl.pki.keys import is_same_public_key


def server_ssl_context(cert_path: Path, key_path: Path, ca_cert_path: Path) -> ssl.SSLContext:
    """The aggregator's side: TLS 1.2+, and every client must present a certificate from the CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.verify_mode = ssl.CERT_REQUIRED
    return _configure(context, Path(cert_path), Path(key_path), Path(ca_cert_path))


def client_ssl_context(cert_path: Path, key_path: Path, ca_cert_path: Path) -> ssl.SSLContext:
    """A party's side: TLS 1.2+, presents its certificate, and checks the server's against the CA.

    Hostname checking stays on: connect with ``server_hostname`` set to a name or IP in the
    server certificate's SANs (``localhost`` / ``127.0.0.1`` by default).
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname by default
    return _configure(context, Path(cert_path), Path(key_path), Path(ca_cert_path))


def _configure(context: ssl.SSLContext, cert_path: Path, key_path: Path, ca_cert_path: Path) -> ssl.SSLContext:
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _check_key_pair(cert_path, key_path)
    load_certificate(ca_cert_path)  # OpenSSL's own error for a bad CA file names no file
    try:
        context.load_cert_chain(certfile=cert_path, keyfile=key_path)
        context.load_verify_locations(cafile=ca_cert_path)
    except ssl.SSLError as error:
        raise PKIError(f"cannot use {cert_path} / {key_path} / {ca_cert_path} for TLS: {error.reason}") from None
    return context


def _check_key_pair(cert_path: Path, key_path: Path) -> None:
    """Load both files with clear errors first; an encrypted key would make OpenSSL prompt on the terminal.

    The key is this process's own, which plan and apply inspect with RSA's consistency check
    (:func:`fldecl.pki.inspection.inspect`): here it is only read, not checked again, a
    third of a second of every party's and aggregator's start.
    """
    cert = load_certificate(cert_path)
    key = load_private_key(key_path, validate=False)
    if not is_same_public_key(key.public_key(), cert.public_key()):
        raise PKIError(f"private key {key_path} does not match certificate {cert_path}")
