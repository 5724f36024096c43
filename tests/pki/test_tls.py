"""A real mutual-TLS handshake on 127.0.0.1 between the aggregator's and a party's contexts."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from fldecl.pki import EncryptedKeyError, PKIError, client_ssl_context, load_private_key, server_ssl_context

from .conftest import Issued

TIMEOUT_SECONDS = 10


@dataclass
class ServerOutcome:
    """What the one-connection echo server saw: the client's certificate, or why it refused."""

    client_certificate: dict | None = None
    error: Exception | None = None


@contextmanager
def echo_server(context: ssl.SSLContext) -> Iterator[tuple[int, ServerOutcome]]:
    """Serve one TLS connection on 127.0.0.1, echoing one message; always stopped on exit."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(TIMEOUT_SECONDS)
    outcome = ServerOutcome()

    def serve() -> None:
        try:
            connection, _ = listener.accept()
            connection.settimeout(TIMEOUT_SECONDS)
            with context.wrap_socket(connection, server_side=True) as tls:
                outcome.client_certificate = tls.getpeercert()
                tls.sendall(tls.recv(1024))
        except OSError as error:  # ssl.SSLError is an OSError
            outcome.error = error

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], outcome
    finally:
        thread.join(TIMEOUT_SECONDS)
        listener.close()
        assert not thread.is_alive(), "the test server did not stop"


def exchange(port: int, context: ssl.SSLContext, message: bytes = b"model update") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_SECONDS) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(message)
            return tls.recv(1024)


def _server_context(identity: Issued, ca: Issued) -> ssl.SSLContext:
    return server_ssl_context(identity.cert_path, identity.key_path, ca.cert_path)


def _client_context(identity: Issued, ca: Issued) -> ssl.SSLContext:
    return client_ssl_context(identity.cert_path, identity.key_path, ca.cert_path)


def test_mutual_tls_handshake_succeeds(ca: Issued, aggregator: Issued, party: Issued) -> None:
    with echo_server(_server_context(aggregator, ca)) as (port, outcome):
        assert exchange(port, _client_context(party, ca)) == b"model update"
    assert outcome.error is None
    subject = dict(attribute for rdn in outcome.client_certificate["subject"] for attribute in rdn)
    assert subject["commonName"] == "Party_1"


def test_server_rejects_a_client_from_another_ca(ca: Issued, aggregator: Issued, foreign_party: Issued) -> None:
    foreign_client = client_ssl_context(foreign_party.cert_path, foreign_party.key_path, ca.cert_path)
    with echo_server(_server_context(aggregator, ca)) as (port, outcome):
        # With TLS 1.3 the client learns of the refusal only when it reads: an alert, EOF or reset.
        with pytest.raises((ssl.SSLError, ConnectionError)):
            exchange(port, foreign_client)
    assert isinstance(outcome.error, ssl.SSLCertVerificationError)
    assert "certificate verify failed: unable to get local issuer certificate" in str(outcome.error)
    assert outcome.client_certificate is None


def test_client_rejects_a_server_from_another_ca(ca: Issued, party: Issued, foreign_party: Issued) -> None:
    with echo_server(_server_context(foreign_party, ca)) as (port, outcome):
        with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
            exchange(port, _client_context(party, ca))
    assert "unknown ca" in str(outcome.error)


def test_contexts_require_verified_peers_and_tls_1_2(ca: Issued, aggregator: Issued, party: Issued) -> None:
    server, client = _server_context(aggregator, ca), _client_context(party, ca)
    assert server.verify_mode == client.verify_mode == ssl.CERT_REQUIRED
    assert client.check_hostname is True
    assert server.minimum_version == client.minimum_version == ssl.TLSVersion.TLSv1_2


def test_an_encrypted_key_fails_clearly_instead_of_prompting(ca: Issued, party: Issued, tmp_path: Path) -> None:
    encrypted_path = tmp_path / "encrypted.pem"
    encrypted_path.write_bytes(
        load_private_key(party.key_path).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"a password"),
        )
    )
    with pytest.raises(EncryptedKeyError, match="is encrypted with a password"):
        client_ssl_context(party.cert_path, encrypted_path, ca.cert_path)


def test_a_key_from_another_pair_fails_clearly(ca: Issued, aggregator: Issued, party: Issued) -> None:
    with pytest.raises(PKIError, match=f"private key {aggregator.key_path} does not match certificate"):
        server_ssl_context(party.cert_path, aggregator.key_path, ca.cert_path)
