"""Signing in to WML from the environment, and client calls whose failures a user can read.

The credentials come from the ``WML_*`` variables only. IBM's client is imported, and corrected,
by :mod:`.ibm_client`; every call to it crosses that module's one error boundary.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from fldecl.core.errors import ProviderError, TransientError
from fldecl.core.retry import RetryPolicy, with_retries
from fldecl.providers.wml import ibm_client
from fldecl.providers.wml.ibm_client import connection_failure, first_line, scrubbed, wml_message

T = TypeVar("T")

VARIABLES = ("WML_URL", "WML_APIKEY", "WML_USERNAME", "WML_PASSWORD", "WML_VERSION", "WML_INSTANCE_ID",
             "WML_PROJECT_ID", "WML_SPACE_ID", "WML_CA_BUNDLE")

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
        raise ProviderError(f"WML_CA_BUNDLE={bundle} holds no readable PEM certificate ({first_line(str(exc))}): {what}") from None


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
                api_client = ibm_client.install(self.credentials.ca_bundle)
                self._client = with_retries(lambda: self._sign_in(api_client), SIGN_IN)
            return self._client

    def call(self, action: Callable[[Any], T], what: str) -> T:
        """One attempt at ``action(client)``; failures come out as provider errors."""
        client = self.client
        with self.errors(what):
            return action(client)

    def retried(self, action: Callable[[Any], T], what: str) -> T:
        """An idempotent call, retried in place on rate limits, 5xx and dropped connections."""
        return with_retries(lambda: self.call(action, what), READS)

    def _sign_in(self, api_client: Any) -> Any:
        credentials = self.credentials
        try:
            with self.errors(f"signing in to WML at {credentials.url}"):
                client = api_client(credentials.for_client())
        except ProviderError as error:
            raise self._sign_in_error(error) from error.__cause__
        scope = credentials.scope_variable
        scope_id = credentials.space_id or credentials.project_id
        try:
            with self.errors(f"opening {scope}={scope_id}"):
                if credentials.space_id:
                    client.set.default_space(scope_id)
                else:
                    client.set.default_project(scope_id)
        except ProviderError as error:
            cause = error.__cause__
            if cause is None or isinstance(error, TransientError) or connection_failure(cause, "", credentials.url):
                raise
            raise ProviderError(self.clean(f"{scope}={scope_id} cannot be used: {wml_message(cause)}")) from cause
        return client

    def _sign_in_error(self, error: ProviderError) -> ProviderError:
        """A refused sign-in names the variables to check; ``error`` is what the boundary made of IBM's exception."""
        credentials = self.credentials
        exc = error.__cause__
        if exc is None or isinstance(error, TransientError) or connection_failure(exc, "", credentials.url):
            return error
        text = str(exc)
        if "token" in text.lower() or ibm_client.status(exc) in (401, 403):
            who = "WML_USERNAME and WML_APIKEY (or WML_PASSWORD)" if credentials.instance_id else "WML_APIKEY"
            return ProviderError(f"WML at {credentials.url} refused the credentials: check {who}")
        if "version" in text.lower():
            return ProviderError(self.clean(f"WML_VERSION={credentials.version} was refused: {first_line(text)}"))
        return error

    def errors(self, what: str) -> AbstractContextManager[None]:
        """The boundary around one call (:func:`.ibm_client.wml_errors`), with this session's URL and secrets."""
        return ibm_client.wml_errors(what, self.credentials.url, self.credentials.secrets)

    def clean(self, text: str) -> str:
        """One line, with no secret in it."""
        return scrubbed(text, self.credentials.secrets)
