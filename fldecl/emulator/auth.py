"""Who may call the emulator, and the tokens that prove it.

Tokens are HS256 JWTs signed with a secret kept in the data directory, so a client's token stays
valid across an emulator restart. The payload is *standard* base64: the client decodes it with
``base64.b64decode`` to read ``exp``, and re-authenticates on every call if that fails.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from fldecl.emulator.routing import ApiError, Request

TOKEN_LIFETIME_SECONDS = 12 * 3600


@dataclass(frozen=True)
class Account:
    """The single user the emulator knows; the key and password are the emulator's own fakes."""

    username: str
    api_key: str
    password: str

    def accepts(self, username: str | None, secret: str | None, *, field: str) -> bool:
        expected = self.api_key if field == "api_key" else self.password
        return (username is not None and secret is not None
                and hmac.compare_digest(username, self.username) and hmac.compare_digest(secret, expected))


def _encode(segment: dict[str, object]) -> str:
    return base64.b64encode(json.dumps(segment, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(segment: str) -> dict[str, object]:
    decoded: dict[str, object] = json.loads(base64.b64decode(segment + "=" * (-len(segment) % 4), validate=True))
    return decoded


class TokenAuthority:
    def __init__(self, secret: str, clock: Callable[[], float] = time.time) -> None:
        self._secret = secret.encode()
        self._clock = clock

    def _signature(self, signed_part: str) -> str:
        digest = hmac.new(self._secret, signed_part.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def issue(self, username: str, purpose: str = "access") -> str:
        now = int(self._clock())
        payload = {"username": username, "sub": username, "role": "Admin", "purpose": purpose,
                   "iat": now, "exp": now + TOKEN_LIFETIME_SECONDS}
        signed_part = f"{_encode({'alg': 'HS256', 'typ': 'JWT'})}.{_encode(payload)}"
        return f"{signed_part}.{self._signature(signed_part)}"

    def verify(self, token: str, purpose: str = "access") -> str | None:
        """The username a valid, unexpired token of ``purpose`` was issued to; else ``None``."""
        parts = token.split(".")
        if len(parts) != 3 or not hmac.compare_digest(parts[2], self._signature(f"{parts[0]}.{parts[1]}")):
            return None
        try:
            payload = _decode(parts[1])
        except (ValueError, binascii.Error):
            return None
        expires = payload.get("exp", 0)
        if payload.get("purpose") != purpose or not isinstance(expires, (int, float)) or expires <= self._clock():
            return None
        return str(payload.get("username"))

    def require_bearer(self, request: Request) -> str:
        """The caller's username, or a 401 in WML's error shape (the client prints its message)."""
        scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
        username = self.verify(token.strip()) if scheme.lower() == "bearer" else None
        if username is None:
            raise ApiError(401, "authentication_failed",
                           "Missing or invalid bearer token. Authorize at /icp4d-api/v1/authorize first.")
        return username


def new_secret() -> str:
    return secrets.token_urlsafe(32)
