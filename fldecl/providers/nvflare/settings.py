"""What the Stack's ``nvflare:`` block declares: where the server listens, who the admin is, what runs here.

The schema (``schemas/stack.schema.json``) fills the defaults and refuses anything else, so this
module only gives the block names. No credential and no kit location is declared: kits live in
the stack's ``.fldecl/nvflare/``, and the admin's key never leaves it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_SERVER_NAME = "server"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_ADMIN = "admin@fldecl.local"
DEFAULT_ORGANIZATION = "fldecl"
ADMIN_ROLE = "project_admin"


@dataclass(frozen=True)
class NvflareSettings:
    """The server's name (its certificate's CN), host and ports (0: a free port, chosen once), the admin user's name.

    ``launch_server``: ``apply`` starts the server on this machine from its kit (``launch: auto``);
    with ``manual`` its operators start it, and fldecl only reaches it.
    """

    server_name: str = DEFAULT_SERVER_NAME
    host: str = DEFAULT_HOST
    fed_learn_port: int = 0
    admin_port: int = 0
    launch_server: bool = True
    organization: str = DEFAULT_ORGANIZATION
    admin: str = DEFAULT_ADMIN

    @classmethod
    def from_block(cls, block: Mapping[str, Any] | None) -> NvflareSettings:
        server = dict((block or {}).get("server") or {})
        admin = dict((block or {}).get("admin") or {})
        return cls(
            server_name=server.get("name", DEFAULT_SERVER_NAME),
            host=server.get("host", DEFAULT_HOST),
            fed_learn_port=int(server.get("fed_learn_port", 0)),
            admin_port=int(server.get("admin_port", 0)),
            launch_server=server.get("launch", "auto") != "manual",
            organization=(block or {}).get("organization", DEFAULT_ORGANIZATION),
            admin=admin.get("name", DEFAULT_ADMIN),
        )
