"""Reads from WML's REST API with plain HTTP: what a plan needs, without importing IBM's client.

A plan reads a few documented list calls. IBM's client would cost seconds to import (it imports
torch, scikit-learn and pandas when they are installed); these reads cost a request each. They
sign in with IBM's own ``ibm-cloud-sdk-core`` authenticators (Cloud Pak for Data, or IAM on IBM
Cloud), verify TLS against the system store or ``WML_CA_BUNDLE``, ask WML to filter by tag, and
follow ``next.href`` page by page, retrying each page on its own: one failed page costs one
retry, not the whole listing. Writes, follow-ups and party runs stay with IBM's client.
"""

from __future__ import annotations

import functools
import threading
from typing import Any
from urllib.parse import urljoin

import requests

from fldecl.core.errors import ProviderError
from fldecl.core.retry import with_retries
from fldecl.providers.wml import ibm_client
from fldecl.providers.wml.connection import READS, Credentials
from fldecl.providers.wml.ibm_client import status_failure, wml_errors

API_VERSION = "2026-08-17"
PAGE_SIZE = 200
Document = dict[str, Any]


class RestReads:
    """Signed-in GETs against one WML project or space, shared by the resource types' threads."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials
        self.requests = 0
        self._session = requests.Session()
        #: Given with every request: a session-wide setting would lose to REQUESTS_CA_BUNDLE in the environment.
        self._verify: str | bool = credentials.ca_bundle or True
        self._authenticator: Any = None
        self._lock = threading.Lock()

    def list(self, path: str, what: str, **filters: str) -> list[Document]:
        """Every resource of a collection (e.g. ``/ml/v4/models``) that matches ``filters``, page after page."""
        documents: list[Document] = []
        params: dict[str, str] | None = {**self._scope(), "limit": str(PAGE_SIZE), **filters}
        url: str | None = f"{self.credentials.url}{path}"
        while url is not None:
            body = with_retries(functools.partial(self._get, url, params, what), READS)
            documents.extend(body.get("resources") or [])
            following = (body.get("next") or {}).get("href")
            url, params = (urljoin(f"{self.credentials.url}/", following), None) if following else (None, None)
        return documents

    def _get(self, url: str, params: dict[str, str] | None, what: str) -> Document:
        try:
            headers = self._headers()
            with wml_errors(what, self.credentials.url, self.credentials.secrets):
                response = self._session.get(url, params=params, headers=headers, timeout=60, verify=self._verify)
        finally:
            with self._lock:
                self.requests += 1
        if response.status_code >= 400:
            retry_after = _seconds(response.headers.get("Retry-After"))
            raise status_failure(response.status_code, f"{what}: WML answered {response.status_code}: {_message(response)}",
                                 retry_after)
        try:
            body: Document = response.json()
        except ValueError:
            raise ProviderError(f"{what}: WML answered {response.status_code} with a body that is not JSON") from None
        return body

    def _headers(self) -> dict[str, str]:
        """The bearer token, from the authenticator (which signs in once and refreshes before expiry)."""
        with self._lock:
            if self._authenticator is None:
                self._authenticator = _authenticator(self.credentials)
            authenticator = self._authenticator
        request: dict[str, Any] = {"headers": {}}
        try:
            with wml_errors(f"signing in to WML at {self.credentials.url}", self.credentials.url, self.credentials.secrets):
                authenticator.authenticate(request)
        except ProviderError as error:
            with self._lock:  # a failed token request leaves the authenticator waiting a minute: start afresh
                self._authenticator = None
            raise self._refused(error) from error.__cause__
        return dict(request["headers"])

    def _scope(self) -> dict[str, str]:
        scope = ("space_id", self.credentials.space_id) if self.credentials.space_id else ("project_id", self.credentials.project_id)
        return {"version": API_VERSION, scope[0]: scope[1] or ""}

    def _refused(self, error: ProviderError) -> ProviderError:
        """A token request WML answered 400, 401 or 403 names the variables to check."""
        if error.__cause__ is None or ibm_client.status(error.__cause__) not in (400, 401, 403):
            return error
        who = "WML_USERNAME and WML_APIKEY (or WML_PASSWORD)" if self.credentials.instance_id else "WML_APIKEY"
        return ProviderError(f"WML at {self.credentials.url} refused the credentials: check {who}")


def _authenticator(credentials: Credentials) -> Any:
    """IBM's authenticator for these credentials: Cloud Pak for Data when an instance is named, else IAM."""
    from ibm_cloud_sdk_core.authenticators import CloudPakForDataAuthenticator, IAMAuthenticator  # lazy: only for wml stacks

    verify = credentials.ca_bundle
    if credentials.instance_id:
        return CloudPakForDataAuthenticator(credentials.username, credentials.password, f"{credentials.url}/icp4d-api",
                                            apikey=credentials.api_key, verify=verify)
    authenticator = IAMAuthenticator(credentials.api_key)
    if verify:
        authenticator.token_manager.http_config = {"verify": verify}
    return authenticator


def _message(response: requests.Response) -> str:
    """WML's own explanation (``errors[0].message``), else the status's reason."""
    try:
        return str(response.json()["errors"][0]["message"])
    except (ValueError, KeyError, IndexError, TypeError):
        return response.reason or "no explanation"


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
