"""Requests, responses and the route table: the emulator's tiny web framework.

Route templates (``/ml/v4/models/{id}``) double as the keys of the request statistics, so
tests can count calls per endpoint without caring about ids.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from typing import TYPE_CHECKING, Any

from fldecl.errors import BackendError

if TYPE_CHECKING:
    from fldecl.emulator.app import EmulatorApp

JSON_TYPE = "application/json"


class ApiError(BackendError):
    """An error answered in WML's documented shape: ``{"trace", "errors": [{"code", "message"}]}``."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def to_response(self) -> Response:
        body = {"trace": uuid.uuid4().hex, "errors": [{"code": self.code, "message": self.message}]}
        return Response.json(self.status, body, headers=self.headers)


def not_found(kind: str, resource_id: str) -> ApiError:
    return ApiError(404, "not_found", f"{kind} with id '{resource_id}' does not exist.")


@dataclass
class Request:
    """One parsed HTTP request. Query keys may repeat (the client re-sends its own on every page)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    client_host: str
    params: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of a query key: WML tolerates duplicates and so must we."""
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError as error:
            raise ApiError(400, "invalid_request_entity", f"The request body is not valid JSON: {error}") from error

    def json_object(self) -> dict[str, Any]:
        payload = self.json()
        if not isinstance(payload, dict):
            raise ApiError(400, "invalid_request_entity", "The request body must be a JSON object.")
        return payload


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
        return cls(status, json.dumps(payload).encode(), JSON_TYPE, dict(headers or {}))

    @classmethod
    def empty(cls, status: int = 204) -> Response:
        return cls(status, b"", JSON_TYPE)


Handler = Callable[["EmulatorApp", Request], Response]


@dataclass(frozen=True)
class Route:
    """``auth``: needs a bearer token. ``control``: an ``/_emulator/`` endpoint (loopback only, no faults)."""

    method: str
    template: str
    pattern: re.Pattern[str]
    handler: Handler
    auth: bool = True
    control: bool = False

    @property
    def key(self) -> str:
        return f"{self.method} {self.template}"


_PARAMETER = re.compile(r"\{(\w+)(:path)?\}")


def compile_template(template: str) -> re.Pattern[str]:
    """``{name}`` matches one path segment, ``{name:path}`` the rest of the path."""
    regex, position = "", 0
    for match in _PARAMETER.finditer(template):
        regex += re.escape(template[position:match.start()])
        regex += f"(?P<{match.group(1)}>{'.+' if match.group(2) else '[^/]+'})"
        position = match.end()
    return re.compile(regex + re.escape(template[position:]) + "/?")


class RouteTable:
    """Routes collected by decorators in each ``api`` module, merged into one table by the server."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, template: str, *, auth: bool = True, control: bool = False) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append(Route(method, template, compile_template(template), handler, auth, control))
            return handler

        return register

    def get(self, template: str, **options: bool) -> Callable[[Handler], Handler]:
        return self.add("GET", template, **options)

    def post(self, template: str, **options: bool) -> Callable[[Handler], Handler]:
        return self.add("POST", template, **options)

    def put(self, template: str, **options: bool) -> Callable[[Handler], Handler]:
        return self.add("PUT", template, **options)

    def patch(self, template: str, **options: bool) -> Callable[[Handler], Handler]:
        return self.add("PATCH", template, **options)

    def delete(self, template: str, **options: bool) -> Callable[[Handler], Handler]:
        return self.add("DELETE", template, **options)

    def extend(self, other: RouteTable) -> None:
        self.routes.extend(other.routes)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """The route for a request; 405 when the path exists under another method, else 404."""
        path_known = False
        for route in self.routes:
            found = route.pattern.fullmatch(path)
            if not found:
                continue
            if route.method == method:
                return route, found.groupdict()
            path_known = True
        if path_known:
            raise ApiError(405, "method_not_allowed", f"{method} is not supported on {path}.")
        raise ApiError(404, "not_found", f"No such endpoint: {method} {path}.")
