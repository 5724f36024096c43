"""The aggregator/party protocol: message types, in the order a training uses them.

Party -> aggregator: ``hello`` {training_id, party}
Aggregator -> party: ``welcome`` {model_sha256, fusion_type, cipher_spec, rounds, max_timeout,
    hyperparameters} or ``refused`` {reason}
Aggregator -> one party: ``generate_keys`` {party_certificates: {name: PEM}}
    -> ``keys_generated`` [sealed bundle, public context]
Aggregator -> every party: ``keys`` [sealed bundle] -> ``keys_accepted``
Per round r: ``train`` {round} -> ``update`` {round, metrics} [update];
    ``evaluate`` {round, contributors} [fused model] -> ``evaluation`` {round, metrics, test_points}
At the end: ``finish`` -> ``finished``; on failure ``abort`` {reason}.
A party that cannot go on sends ``error`` {reason} and stops.

The fused model of a ``crypto_iter_avg`` training only ever travels as ciphertext, so the
aggregator never holds a plaintext model.
"""

from __future__ import annotations

import hashlib
import ssl
from pathlib import Path

from fldecl.fl.wire import Message

HELLO, WELCOME, REFUSED = "hello", "welcome", "refused"
GENERATE_KEYS, KEYS_GENERATED, KEYS, KEYS_ACCEPTED = "generate_keys", "keys_generated", "keys", "keys_accepted"
TRAIN, UPDATE, EVALUATE, EVALUATION = "train", "update", "evaluate", "evaluation"
FINISH, FINISHED, ABORT, ERROR = "finish", "finished", "abort", "error"

# Short steps (handshake, hello) get this long; waits for training use the job's max_timeout.
HANDSHAKE_TIMEOUT = 30.0


def error_message(reason: str) -> Message:
    return Message(ERROR, {"reason": reason})


def certificate_fingerprint(der: bytes) -> str:
    """The sha256 of a certificate's DER bytes: how the aggregator recognises a party."""
    return hashlib.sha256(der).hexdigest()


def file_fingerprint(cert_path: Path) -> str:
    return certificate_fingerprint(ssl.PEM_cert_to_DER_cert(Path(cert_path).read_text()))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def describe_tls_alert(error: BaseException) -> str | None:
    """Put the alert a TLS peer sent into words (OpenSSL says e.g. ``TLSV1_ALERT_UNKNOWN_CA``), if it sent one."""
    text = f"{getattr(error, 'reason', '') or ''} {error}".lower()
    if "unknown_ca" in text or "unknown ca" in text:
        return "not issued by the stack's CA"
    if "expired" in text:
        return "expired"
    if "revoked" in text:
        return "revoked"
    if "certificate_required" in text or "certificate required" in text:
        return "no certificate presented"
    if "alert" in text:
        return f"rejected during the TLS handshake ({getattr(error, 'reason', None) or error})"
    return None


def describe_certificate_problem(problem: str) -> str:
    """The short form of a PKI check's message, matching what a TLS alert would have said."""
    if "not issued by" in problem:
        return "not issued by the stack's CA"
    if "expired" in problem:
        return "expired"
    return "invalid"
