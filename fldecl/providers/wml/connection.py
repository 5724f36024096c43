"""Signing in to WML from the environment, and client calls whose failures a user can read.

IBM's client (``ibm_watson_machine_learning``) needs three corrections before fldecl can rely on it:

* TLS. The client reads ``WML_CLIENT_VERIFY_REQUESTS`` once, when it is imported, and without it
  silently re-sends a request whose handshake failed with verification turned off. The variable
  is set (to the CA bundle, else ``True``) before the import, and the client's switch is pinned
  again afterwards in case something imported the client earlier.
* Noise. It logs a WARNING for every error it raises and prints tables and banners. Its loggers
  are silenced, and what a thread prints while inside a client call is dropped.
* Statuses. It never retries, and for deletes and project setup it drops the HTTP status. Its
  HTTP functions are wrapped to remember each thread's last response, so that a 429 or 5xx
  becomes a :class:`TransientError` the core retries, and a 404 a :class:`NotFoundError`.

The API key and password are scrubbed from every message raised here.
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
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO, TypeVar

from fldecl.core.errors import NotFoundError, ProviderError, TransientError
from fldecl.core.retry import RetryPolicy, with_retries

T = TypeVar("T")

VARIABLES = ("WML_URL", "WML_APIKEY", "WML_USERNAME", "WML_PASSWORD", "WML_VERSION", "WML_INSTANCE_ID",
             "WML_PROJECT_ID", "WML_SPACE_ID", "WML_CA_BUNDLE")
INSTALL_HINT = "pip install 'fldecl[wml]'"

_thread = threading.local()


READS = RetryPolicy(attempts=8, base_delay=0.2, max_delay=5.0, max_total=60.0)
SIGN_IN = RetryPolicy(attempts=20, base_delay=0.2, max_delay=2.0, max_total=60.0)


@dataclass(frozen=True)
class Credentials:
    """Where and as whom to sign in: IBM Cloud (URL + API key) or Cloud Pak for Data (+ user, version, instance)."""

    url: str
    project_id: str | None = None
    space_id: str | None = None
    api_key: str | None = None
    username: str | None = None
    password: str | None = None
    version: str | None = None
    instance_id: str | None = None
    ca_bundle: str | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Credentials:
        """Read and check the ``WML_*`` variables; a problem is one line naming the variable."""
        value = {name: (environ.get(name) or "").strip() or None for name in VARIABLES}

        def require(name: str, why: str) -> str:
            found = value[name]
            if not found:
                raise ProviderError(f"{name} is not set: {why}")
            return found

        url = require("WML_URL", "the wml backend needs the service URL "
                                 "(IBM Cloud: https://<region>.ml.cloud.ibm.com; Cloud Pak for Data: the cluster URL)")
        if not url.startswith("https://"):
            raise ProviderError(f"WML_URL must start with https:// (got {url!r})")
        if value["WML_INSTANCE_ID"]:
            require("WML_USERNAME", "Cloud Pak for Data (WML_INSTANCE_ID is set) signs in as a user")
            if not (value["WML_APIKEY"] or value["WML_PASSWORD"]):
                raise ProviderError("WML_APIKEY is not set: Cloud Pak for Data needs the user's API key "
                                    "(or WML_PASSWORD)")
            require("WML_VERSION", "Cloud Pak for Data needs its version, e.g. 4.8")
        elif value["WML_USERNAME"] or value["WML_PASSWORD"]:
            raise ProviderError("WML_INSTANCE_ID is not set: Cloud Pak for Data needs it (e.g. openshift); "
                                "on IBM Cloud set only WML_URL and WML_APIKEY")
        else:
            require("WML_APIKEY", "IBM Cloud needs an API key (https://cloud.ibm.com/iam/apikeys)")
        if bool(value["WML_PROJECT_ID"]) == bool(value["WML_SPACE_ID"]):
            raise ProviderError("WML_PROJECT_ID is not set: fldecl works in one project "
                                "(or one deployment space: set WML_SPACE_ID instead, not both)")
        bundle = value["WML_CA_BUNDLE"]
        if bundle:
            _check_ca_bundle(bundle)
        return cls(url=url.rstrip("/"), project_id=value["WML_PROJECT_ID"], space_id=value["WML_SPACE_ID"],
                   api_key=value["WML_APIKEY"], username=value["WML_USERNAME"], password=value["WML_PASSWORD"],
                   version=value["WML_VERSION"], instance_id=value["WML_INSTANCE_ID"], ca_bundle=bundle)

    def for_client(self) -> dict[str, str]:
        """The ``APIClient`` credentials dict."""
        credentials = {"url": self.url}
        if self.instance_id:
            credentials.update(username=self.username or "", instance_id=self.instance_id, version=self.version or "")
        if self.api_key:
            credentials["apikey"] = self.api_key
        else:
            credentials["password"] = self.password or ""
        return credentials

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(secret for secret in (self.api_key, self.password) if secret)

    @property
    def scope_variable(self) -> str:
        return "WML_SPACE_ID" if self.space_id else "WML_PROJECT_ID"


def _check_ca_bundle(bundle: str) -> None:
    """A CA bundle that cannot be read is a mistake to report now, not a connection failure to retry."""
    what = "give the PEM file of the CA that signed the server's certificate"
    if not Path(bundle).is_file():
        raise ProviderError(f"WML_CA_BUNDLE={bundle} is not a file: {what}")
    try:
        ssl.create_default_context(cafile=bundle)
    except (ssl.SSLError, ValueError, OSError) as exc:
        raise ProviderError(f"WML_CA_BUNDLE={bundle} holds no readable PEM certificate ({_first_line(str(exc))}): {what}") from None


class WmlSession:
    """One signed-in client, shared by the provider's threads; connects on first use."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                api_client = _import_client(self.credentials.ca_bundle)
                self._client = with_retries(lambda: self._sign_in(api_client), SIGN_IN)
            return self._client

    def call(self, action: Callable[[Any], T], what: str) -> T:
        """One attempt at ``action(client)``; failures come out as provider errors."""
        client = self.client
        _thread.response = None
        try:
            with _quiet_stdout():
                return action(client)
        except ProviderError:
            raise
        except Exception as exc:
            raise self.translate(exc, what) from exc

    def retried(self, action: Callable[[Any], T], what: str) -> T:
        """An idempotent call, retried in place on rate limits, 5xx and dropped connections."""
        return with_retries(lambda: self.call(action, what), READS)

    def _sign_in(self, api_client: Any) -> Any:
        credentials = self.credentials
        _thread.response = None
        try:
            with _quiet_stdout():
                client = api_client(credentials.for_client())
        except Exception as exc:
            raise self._sign_in_error(exc) from exc
        scope = credentials.scope_variable
        scope_id = credentials.space_id or credentials.project_id
        _thread.response = None
        try:
            with _quiet_stdout():
                if credentials.space_id:
                    client.set.default_space(scope_id)
                else:
                    client.set.default_project(scope_id)
        except Exception as exc:
            error = self.translate(exc, f"opening {scope}={scope_id}")
            if isinstance(error, TransientError) or connection_failure(exc, "", credentials.url):
                raise error from exc
            raise ProviderError(self.clean(f"{scope}={scope_id} cannot be used: {_wml_message(exc)}")) from exc
        return client

    def _sign_in_error(self, exc: Exception) -> ProviderError:
        credentials = self.credentials
        error = self.translate(exc, f"signing in to WML at {credentials.url}")
        if isinstance(error, TransientError) or connection_failure(exc, "", credentials.url):
            return error
        text = str(exc)
        if "token" in text.lower() or _status(exc) in (401, 403):
            who = "WML_USERNAME and WML_APIKEY (or WML_PASSWORD)" if credentials.instance_id else "WML_APIKEY"
            return ProviderError(f"WML at {credentials.url} refused the credentials: check {who}")
        if "version" in text.lower():
            return ProviderError(self.clean(f"WML_VERSION={credentials.version} was refused: {_first_line(text)}"))
        return error

    def translate(self, exc: BaseException, what: str) -> ProviderError:
        """The provider error for a failed client call (transient, not found, or final)."""
        error = connection_failure(exc, what, self.credentials.url) or _http_failure(exc, what)
        if error is None:
            error = ProviderError(f"{what}: {_first_line(str(exc)) or type(exc).__name__}")
        return _rebuilt(error, self.clean(str(error)))

    def clean(self, text: str) -> str:
        """One line, with no secret in it."""
        for secret in self.credentials.secrets:
            text = text.replace(secret, "***")
        return " ".join(text.split())


def _import_client(ca_bundle: str | None) -> Any:
    """``APIClient``, imported with verification forced on (see the module docstring)."""
    verify = ca_bundle or "True"
    os.environ["WML_CLIENT_VERIFY_REQUESTS"] = verify
    if ca_bundle:
        os.environ["REQUESTS_CA_BUNDLE"] = ca_bundle
    try:
        from ibm_watson_machine_learning import APIClient
        from ibm_watson_machine_learning._wrappers import requests as client_http
    except ImportError as exc:
        raise ProviderError(f"the wml backend needs IBM's client ({exc}): {INSTALL_HINT}") from exc
    client_http.verify = verify
    _record_responses(client_http)
    logging.getLogger("ibm_watson_machine_learning").setLevel(logging.CRITICAL + 1)
    warnings.filterwarnings("ignore", module="ibm_watson_machine_learning")
    return APIClient


def _record_responses(client_http: ModuleType) -> None:
    """Wrap the client's HTTP functions so each thread's last response (or none) is known."""
    for method in ("get", "post", "put", "patch", "delete"):
        send = getattr(client_http, method)
        if not getattr(send, "records_response", False):
            setattr(client_http, method, _recording(send))


def _recording(send: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(send)
    def recorded(*args: Any, **kwargs: Any) -> Any:
        _thread.response = None
        response = send(*args, **kwargs)
        _thread.response = response
        return response

    recorded.records_response = True  # type: ignore[attr-defined]
    return recorded


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
    if getattr(_thread, "response", None) is None and any(isinstance(c, (OSError, TimeoutError)) for c in causes):
        return TransientError(f"{what}: the connection to WML failed ({_innermost(causes)})")
    return None


def _http_failure(exc: BaseException, what: str) -> ProviderError | None:
    status = _status(exc)
    if status is None or status < 400:
        return None
    return status_failure(status, f"{what}: WML answered {status}: {_wml_message(exc)}", _retry_after(exc))


def status_failure(status: int, message: str, retry_after: float | None = None) -> ProviderError:
    """The provider error for an HTTP error status: 429 and 5xx are worth retrying, 404 is not found."""
    if status == 429 or status >= 500:
        return TransientError(message, retry_after)
    if status == 404:
        return NotFoundError(message)
    return ProviderError(message)


def _response(exc: BaseException) -> Any:
    return getattr(exc, "response", None) or getattr(_thread, "response", None)


def _status(exc: BaseException) -> int | None:
    response = _response(exc)
    return getattr(response, "status_code", None)


def _retry_after(exc: BaseException) -> float | None:
    response = _response(exc)
    try:
        return float(response.headers.get("Retry-After"))
    except (AttributeError, TypeError, ValueError):
        return None


def _wml_message(exc: BaseException) -> str:
    """WML's own explanation (``errors[0].message``) when there is one, else the client's."""
    response = _response(exc)
    try:
        return str(response.json()["errors"][0]["message"])
    except (AttributeError, ValueError, TypeError, KeyError, IndexError, RuntimeError):  # RuntimeError: a streamed body already read
        return _first_line(str(exc))


def _innermost(causes: list[BaseException]) -> str:
    deepest = causes[-1]
    return f"{type(deepest).__name__}: {deepest}" if str(deepest) else type(deepest).__name__


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _rebuilt(error: ProviderError, message: str) -> ProviderError:
    if isinstance(error, TransientError):
        return TransientError(message, error.retry_after)
    return type(error)(message)


class _ThreadFilteredStdout:
    """Stands in for ``sys.stdout`` while client calls run, dropping what those threads print."""

    def __init__(self, target: TextIO) -> None:
        self.target = target

    def write(self, text: str) -> int:
        return len(text) if getattr(_thread, "quiet", False) else self.target.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


_stdout_lock = threading.Lock()
_quiet_calls = 0


@contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Silence this thread's prints; other threads (the CLI's progress lines) still reach the terminal."""
    global _quiet_calls
    with _stdout_lock:
        if _quiet_calls == 0:
            sys.stdout = _ThreadFilteredStdout(sys.stdout)
        _quiet_calls += 1
    previous = getattr(_thread, "quiet", False)
    _thread.quiet = True
    try:
        yield
    finally:
        _thread.quiet = previous
        with _stdout_lock:
            _quiet_calls -= 1
            if _quiet_calls == 0 and isinstance(sys.stdout, _ThreadFilteredStdout):
                sys.stdout = sys.stdout.target
