"""What the aggregator and a party say to each other, independent of how it travels.

Every message is a :class:`Message`: a ``type``, JSON ``fields`` (the header) and raw ``payloads``
(byte blobs: models, ciphertexts, key bundles). Nothing is pickled, so a message maps one to one
onto a TLS frame (:mod:`fldecl.fl.framing`) or onto an NVIDIA FLARE ``Shareable`` (a dict that
holds JSON values and bytes): see :meth:`Message.to_dict`.

The server-side workflow (:mod:`fldecl.fl.workflow`) sends tasks; the party side
(:mod:`fldecl.fl.party_tasks`) answers each with exactly one reply, in this order:

======================  ====================================================  ==================================================
task (server -> party)  fields [payloads]                                     reply fields [payloads]
======================  ====================================================  ==================================================
``configure``           model_sha256, fusion_type, cipher_spec, rounds,       ``configured`` {}
                        max_timeout, parties, hyperparameters
``generate_keys``       party_certificates {name: PEM} (to one party)          ``keys_generated`` {} [sealed key bundle]
``keys``                {} [sealed key bundle]                                ``keys_accepted`` {}
``train``               round                                                 ``update`` {round, metrics} [update]
``evaluate``            round, contributors [fused model]                     ``evaluation`` {round, metrics, test_points}
``finish``              {}                                                    ``finished`` {}
``abort``               reason (no reply: the party stops)
======================  ====================================================  ==================================================

A party that cannot go on replies ``error`` {reason} instead, and stops. The fused model of a
``crypto_iter_avg`` training only ever travels as ciphertext, so the aggregator never holds a
plaintext model, and the key bundle is sealed per party certificate, so it never holds a secret key.
"""

from __future__ import annotations

import hashlib
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Tasks the server sends, and the reply each expects.
CONFIGURE, CONFIGURED = "configure", "configured"
GENERATE_KEYS, KEYS_GENERATED = "generate_keys", "keys_generated"
KEYS, KEYS_ACCEPTED = "keys", "keys_accepted"
TRAIN, UPDATE = "train", "update"
EVALUATE, EVALUATION = "evaluate", "evaluation"
FINISH, FINISHED = "finish", "finished"
ABORT, ERROR = "abort", "error"
REPLIES = {CONFIGURE: CONFIGURED, GENERATE_KEYS: KEYS_GENERATED, KEYS: KEYS_ACCEPTED, TRAIN: UPDATE, EVALUATE: EVALUATION,
           FINISH: FINISHED}
"""The reply type each task expects."""
PAYLOADS = {KEYS: 1, EVALUATE: 1, KEYS_GENERATED: 1, UPDATE: 1}
"""How many payloads a message of each type carries (0 when absent)."""


@dataclass
class Message:
    """One task or reply: ``type`` says what it is, ``fields`` are JSON values, ``payloads`` are bytes."""

    type: str
    fields: dict[str, Any] = field(default_factory=dict)
    payloads: list[bytes] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The message as one dict of JSON values and bytes (the shape of an NVIDIA FLARE ``Shareable``)."""
        return {"type": self.type, "fields": self.fields, "payloads": list(self.payloads)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Message:
        """The inverse of :meth:`to_dict`; raises ValueError for anything else."""
        kind, fields, payloads = values.get("type"), values.get("fields", {}), values.get("payloads", [])
        if not isinstance(kind, str) or not isinstance(fields, dict) or not isinstance(payloads, list) \
                or not all(isinstance(payload, bytes) for payload in payloads):
            raise ValueError("a message needs a str type, a dict of fields and a list of bytes payloads")
        return cls(kind, fields, payloads)

    def has_expected_payloads(self) -> bool:
        return len(self.payloads) == PAYLOADS.get(self.type, 0)


def error_message(reason: str) -> Message:
    """The reply of a party that stops, with the reason a person reads."""
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
