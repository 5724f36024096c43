"""WML list semantics: ``limit``/``start`` paging with relative ``next.href``, and tag filters.

``start`` is an opaque token holding the sequence number of the last item served, so a page
boundary survives inserts and deletes between page requests (offsets would skip or repeat).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlencode

from fldecl.emulator.routing import ApiError, Request
from fldecl.emulator.state import Document, Stored

DEFAULT_LIMIT = 100
MAX_LIMIT = 200


def tag_matcher(expression: str) -> Callable[[list[str]], bool]:
    """``tag.value`` is "tag values, separated by `or` or `and`"; ``and`` binds tighter."""
    alternatives = [[tag.strip() for tag in part.split(" and ")] for part in expression.split(" or ")]
    return lambda tags: any(all(tag in tags for tag in required) for required in alternatives)


def _encode_start(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def _decode_start(token: str) -> int:
    try:
        prefix, _, seq = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().partition(":")
        if prefix == "seq":
            return int(seq)
    except ValueError:
        pass
    raise ApiError(400, "invalid_parameter", f"Invalid pagination token 'start={token}'.")


def _limit(request: Request) -> int:
    raw = request.arg("limit")
    if raw is None:
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise ApiError(400, "invalid_parameter", f"Invalid value for 'limit': {raw}.") from None
    if limit < 1:
        raise ApiError(400, "invalid_parameter", "Value of 'limit' must be at least 1.")
    return min(limit, MAX_LIMIT)


def _href(request: Request, limit: int, start: str | None) -> str:
    """The current query (first values, ``start`` replaced) on the current path, relative as WML sends it."""
    query = {key: values[0] for key, values in request.query.items() if key not in ("start", "limit")}
    query["limit"] = str(limit)
    if start is not None:
        query["start"] = start
    return f"{request.path}?{urlencode(query)}"


def tagged(stored: Iterable[Stored], request: Request) -> list[Stored]:
    expression = request.arg("tag.value")
    if not expression:
        return list(stored)
    matches = tag_matcher(expression)
    return [item for item in stored if matches(item.document["metadata"].get("tags") or [])]


def page(stored: list[Stored], request: Request,
         present: Callable[[Document], Document] = lambda document: document) -> dict[str, Any]:
    """One page of already filtered, newest-first items in WML's list envelope."""
    limit = _limit(request)
    start = request.arg("start")
    remaining = stored if start is None else [item for item in stored if item.seq < _decode_start(start)]
    served = remaining[:limit]
    body: dict[str, Any] = {"limit": limit, "first": {"href": _href(request, limit, None)},
                            "resources": [present(item.document) for item in served]}
    if len(remaining) > limit:
        body["next"] = {"href": _href(request, limit, _encode_start(served[-1].seq))}
    if (request.arg("total_count") or "").lower() == "true":
        body["total_count"] = len(stored)
    return body
