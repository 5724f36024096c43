"""IBM's client, corrected: every patch fldecl applies to it, installed once, and the one boundary
where its errors (and those of requests and IBM's sdk-core) become fldecl's.

IBM's client (``ibm_watson_machine_learning``) needs three corrections before fldecl can rely on it,
all made by :func:`install`, which is idempotent (a second call only pins TLS again):

* TLS. The client reads ``WML_CLIENT_VERIFY_REQUESTS`` once, when it is imported, and without it
  silently re-sends a request whose handshake failed with verification turned off. The variable
  is set (to the CA bundle, else ``True``) before the import, and the client's switch is pinned
  again afterwards in case something imported the client earlier.
* Noise. It logs a WARNING for every error it raises and prints tables and banners. Its loggers
  are silenced, and ``sys.stdout`` drops what a thread prints while inside :func:`wml_errors`
  (other threads, such as the CLI's progress lines, still reach the terminal).
* Statuses. It never retries, and for deletes and project setup it drops the HTTP status. Its
  HTTP functions are wrapped to remember each thread's last response, so that :func:`translate`
  turns a 429 or 5xx into a :class:`TransientError` the core retries, and a 404 into a
  :class:`NotFoundError`.

Every message that crosses the boundary is one line with the API key and password scrubbed.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import ssl
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any, TextIO

from fldecl.core.errors import NotFoundError, ProviderError, TransientError
from fldecl.errors import FldeclError

INSTALL_HINT = "pip install 'fldecl[wml]'"
HTTP_METHODS = ("get", "post", "put", "patch", "delete")

#: Per thread: ``response``, the last HTTP response of IBM's client (None before one arrives);
#: ``quiet``, whether this thread's prints are dropped.
_calls = threading.local()
_install_lock = threading.Lock()
_installed = False


def install(ca_bundle: str | None) -> Any:
    """Import IBM's ``APIClient`` with every correction of the module docstring, and return it.

    Safe to call again, from any thread: the patches are applied once; TLS verification (against
    ``ca_bundle``, else the system store) is pinned on every call.
    """
    global _installed
    verify = ca_bundle or "True"
    with _install_lock:
        os.environ["WML_CLIENT_VERIFY_REQUESTS"] = verify
        if ca_bundle:
            os.environ["REQUESTS_CA_BUNDLE"] = ca_bundle
        try:
            from ibm_watson_machine_learning import APIClient
            from ibm_watson_machine_learning._wrappers import requests as client_http
        except ImportError as exc:
            raise ProviderError(f"the wml backend needs IBM's client ({exc}): {INSTALL_HINT}") from exc
        client_http.verify = verify
        if not _installed:
            _record_responses(client_http)
            logging.getLogger("ibm_watson_machine_learning").setLevel(logging.CRITICAL + 1)
            warnings.filterwarnings("ignore", module="ibm_watson_machine_learning")
            _installed = True
        _filter_stdout()
    return APIClient


@contextmanager
def wml_errors(what: str, url: str, secrets: tuple[str, ...] = ()) -> Iterator[None]:
    """The boundary around one call to WML (IBM's client, or requests): this thread's prints are
    dropped, and any exception that is not already fldecl's comes out as :func:`translate` makes it."""
    _calls.response = None
    previous = getattr(_calls, "quiet", False)
    _calls.quiet = True
    try:
        yield
    except FldeclError:
        raise
    except Exception as exc:
        raise translate(exc, what, url, secrets) from exc
    finally:
        _calls.quiet = previous


def translate(exc: BaseException, what: str, url: str, secrets: tuple[str, ...] = ()) -> ProviderError:
    """The provider error for a failed call to WML at ``url``: transient, not found, or final."""
    error = connection_failure(exc, what, url) or _http_failure(exc, what)
    if error is None:
        error = ProviderError(f"{what}: {first_line(str(exc)) or type(exc).__name__}")
    return _rebuilt(error, scrubbed(str(error), secrets))


def connection_failure(exc: BaseException, what: str, url: str) -> ProviderError | None:
    """TLS refusals and unreachable hosts are final; any other connection failure is transient."""
    causes = list(_causes(exc))
    refusal = next((c for c in causes if isinstance(c, ssl.SSLCertVerificationError)), None)
    if refusal is not None or any("CERTIFICATE_VERIFY_FAILED" in str(c) for c in causes):
        reason = getattr(refusal, "verify_message", None) or "certificate verify failed"
        return ProviderError(f"{what}: the TLS certificate of {url} is not trusted ({reason}); "
                             "set WML_CA_BUNDLE to the PEM file of the CA that signed it")
    unreachable = next((c for c in causes if isinstance(c, (ConnectionRefusedError, socket.gaierror))
                        or type(c).__name__ == "NameResolutionError"), None)
    if unreachable is not None:
        return ProviderError(f"{what}: cannot reach {url} ({unreachable}); check WML_URL")
    if _response(exc) is None and any(isinstance(c, (OSError, TimeoutError)) for c in causes):
        return TransientError(f"{what}: the connection to WML failed ({_innermost(causes)})")
    return None


def status_failure(status: int, message: str, retry_after: float | None = None) -> ProviderError:
    """The provider error for an HTTP error status: 429 and 5xx are worth retrying, 404 is not found."""
    if status == 429 or status >= 500:
        return TransientError(message, retry_after)
    if status == 404:
        return NotFoundError(message)
    return ProviderError(message)


def status(exc: BaseException) -> int | None:
    """The HTTP status behind ``exc``: its response's, sdk-core's ``code``, or this thread's last response's."""
    code = getattr(_response(exc), "status_code", None)
    if code is None:
        code = getattr(exc, "code", None)
    return code if isinstance(code, int) else None


def wml_message(exc: BaseException) -> str:
    """WML's own explanation (``errors[0].message``) when there is one, else the exception's first line."""
    response = _response(exc)
    try:
        return str(response.json()["errors"][0]["message"])
    except (AttributeError, ValueError, TypeError, KeyError, IndexError, RuntimeError):  # RuntimeError: a streamed body already read
        return first_line(str(exc))


def scrubbed(text: str, secrets: tuple[str, ...]) -> str:
    """One line, with none of ``secrets`` in it."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return " ".join(text.split())


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _record_responses(client_http: ModuleType) -> None:
    """Wrap the client's HTTP functions so each thread's last response (or none) is known."""
    for method in HTTP_METHODS:
        send = getattr(client_http, method)
        if not getattr(send, "records_response", False):
            setattr(client_http, method, _recording(send))


def _recording(send: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(send)
    def recorded(*args: Any, **kwargs: Any) -> Any:
        _calls.response = None
        response = send(*args, **kwargs)
        _calls.response = response
        return response

    recorded.records_response = True  # type: ignore[attr-defined]
    return recorded


class _ThreadFilteredStdout:
    """``sys.stdout`` once the client is installed: drops what a thread prints inside :func:`wml_errors`."""

    def __init__(self, target: TextIO) -> None:
        self.target = target

    def write(self, text: str) -> int:
        return len(text) if getattr(_calls, "quiet", False) else self.target.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


def _filter_stdout() -> None:
    """Put the filter in front of ``sys.stdout`` unless it already is (something may have replaced it since)."""
    if not isinstance(sys.stdout, _ThreadFilteredStdout):
        sys.stdout = _ThreadFilteredStdout(sys.stdout)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and everything behind it: causes, contexts and the errors requests and urllib3 wrap."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = (current.__cause__, current.__context__, getattr(current, "reason", None), *current.args)
        pending.extend(item for item in linked if isinstance(item, BaseException))


def _http_failure(exc: BaseException, what: str) -> ProviderError | None:
    code = status(exc)
    if code is None or code < 400:
        return None
    return status_failure(code, f"{what}: WML answered {code}: {wml_message(exc)}", _retry_after(exc))


def _response(exc: BaseException) -> Any:
    """The response ``exc`` carries, else this thread's last one (a response of an error status is falsy: test None)."""
    response = getattr(exc, "response", None)
    return response if response is not None else getattr(_calls, "response", None)


def _retry_after(exc: BaseException) -> float | None:
    try:
        return float(_response(exc).headers.get("Retry-After"))
    except (AttributeError, TypeError, ValueError):
        return None


def _innermost(causes: list[BaseException]) -> str:
    deepest = causes[-1]
    return f"{type(deepest).__name__}: {deepest}" if str(deepest) else type(deepest).__name__


def _rebuilt(error: ProviderError, message: str) -> ProviderError:
    if isinstance(error, TransientError):
        return TransientError(message, error.retry_after)
    return type(error)(message)
