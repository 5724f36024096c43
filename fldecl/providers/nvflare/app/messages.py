"""What fldecl's Controller and Executor agree on besides :mod:`fldecl.fl.protocol`: the greeting, and the wire form.

An NVFlare task carries one :class:`~fldecl.fl.protocol.Message` as a ``Shareable`` (its
``to_dict()``: JSON fields and byte payloads). Before the workflow's first task the Controller
greets each site with ``hello`` {training_id}; the site answers ``hello`` {party, training_id}
with its certificate (DER) as payload, which the Controller checks against the site's identity
that NVFlare authenticated over mutual TLS before the workflow's roster admits it.
"""

from __future__ import annotations

import json
from typing import Any

from fldecl.fl.protocol import Message

HELLO = "hello"
#: The topic of the auxiliary message by which the Controller checks that a site it waits for is still reachable.
PROBE_TOPIC = "fldecl.probe"
#: A site's settings for the party it runs, in its kit's ``local/`` folder (written when the kit is built).
PARTY_SETTINGS_FILE = "fldecl_party.json"
#: The server's certificate, in each client kit's ``local/`` folder: a party never seals the training's keys for it.
SERVER_CERTIFICATE_FILE = "fldecl_server.crt"
#: The admin user's certificate, beside it: issued by the same CA, it is no party either.
ADMIN_CERTIFICATE_FILE = "fldecl_admin.crt"


def to_shareable(message: Message) -> Any:
    from nvflare.apis.shareable import Shareable

    shareable = Shareable()
    shareable.update(message.to_dict())
    return shareable


def from_shareable(shareable: Any) -> Message:
    """The message in a task's or a reply's data; ValueError for anything else."""
    return Message.from_dict({key: shareable.get(key) for key in ("type", "fields", "payloads") if key in shareable})


def size(message: Message) -> int:
    """The bytes a message occupies on the wire, as near as fldecl can tell (NVFlare frames it its own way)."""
    return len(json.dumps(message.fields, default=str)) + sum(len(payload) for payload in message.payloads)
