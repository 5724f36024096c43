"""IBM's client is corrected once however often it is installed, and every foreign error that crosses
the boundary comes out as the right error of fldecl's tree, one line, with no secret in it."""

from __future__ import annotations

import logging
import ssl
import sys
import warnings
from typing import Any

import pytest
import requests
import urllib3

from fldecl.core.errors import NotFoundError, ProviderError, TransientError
from fldecl.errors import FldeclError, InputError
from fldecl.providers.wml import ibm_client
from fldecl.providers.wml.ibm_client import wml_errors

URL = "https://wml.example"
SECRET = "api-key-0123456789"


def test_installing_twice_patches_once_and_pins_tls_each_time(tmp_path: Any) -> None:
    from ibm_watson_machine_learning._wrappers import requests as client_http

    first = ibm_client.install(None)
    sends = {method: getattr(client_http, method) for method in ibm_client.HTTP_METHODS}
    stdout, filters = sys.stdout, len(warnings.filters)
    bundle = str(tmp_path / "ca.pem")
    assert ibm_client.install(bundle) is first
    assert {method: getattr(client_http, method) for method in ibm_client.HTTP_METHODS} == sends  # not wrapped twice
    assert all(send.__wrapped__.__name__ == method for method, send in sends.items())  # wrapping IBM's own function
    assert sys.stdout is stdout and not isinstance(stdout.target, type(stdout))  # one filter in front of the real stream
    assert len(warnings.filters) == filters
    assert logging.getLogger("ibm_watson_machine_learning").getEffectiveLevel() > logging.CRITICAL
    assert client_http.verify == bundle
    ibm_client.install(None)
    assert client_http.verify == "True"


def test_a_thread_inside_the_boundary_prints_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    ibm_client.install(None)
    with wml_errors("printing", URL):
        print("IBM's banner")
    print("fldecl's line")
    assert capfd.readouterr().out == "fldecl's line\n"


def refused_connection() -> requests.ConnectionError:
    reason = urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection")  # type: ignore[arg-type]
    reason.__cause__ = ConnectionRefusedError(111, "Connection refused")
    return requests.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/ml/v4/models", reason))  # type: ignore[arg-type]


def answered(status: int, body: bytes = b"{}", headers: dict[str, str] | None = None) -> requests.HTTPError:
    response = requests.Response()
    response.status_code, response._content, response.headers = status, body, requests.structures.CaseInsensitiveDict(headers or {})
    return requests.HTTPError(f"{status} error", response=response)


@pytest.mark.parametrize(("foreign", "expected", "message"), [
    (refused_connection(), ProviderError, f"listing: cannot reach {URL} "),
    (requests.ConnectionError(ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] self-signed")), ProviderError,
     f"listing: the TLS certificate of {URL} is not trusted"),
    (requests.ReadTimeout("read timed out"), TransientError, "listing: the connection to WML failed (ReadTimeout: read timed out)"),
    (answered(503, headers={"Retry-After": "7"}), TransientError, "listing: WML answered 503: 503 error"),
    (answered(429), TransientError, "listing: WML answered 429"),
    (answered(404, b'{"errors": [{"code": "not_found", "message": "no model m"}]}'), NotFoundError,
     "listing: WML answered 404: no model m"),
    (answered(400), ProviderError, "listing: WML answered 400"),
    (RuntimeError(f"apikey {SECRET} was refused\nReason: ..."), ProviderError, "listing: apikey *** was refused"),
])
def test_a_foreign_error_comes_out_as_the_right_fldecl_error(foreign: Exception, expected: type[ProviderError], message: str) -> None:
    with pytest.raises(ProviderError) as caught, wml_errors("listing", URL, (SECRET,)):
        raise foreign
    assert type(caught.value) is expected
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value) and SECRET not in str(caught.value)
    assert caught.value.__cause__ is foreign
    if isinstance(caught.value, TransientError) and "503" in message:
        assert caught.value.retry_after == 7


def test_a_status_the_client_dropped_is_read_from_the_threads_last_response() -> None:
    from ibm_watson_machine_learning.wml_client_error import WMLClientError

    last = answered(502).response
    send = ibm_client._recording(lambda url: last)  # how install() wraps each of IBM's HTTP functions
    with pytest.raises(TransientError, match="deleting m: WML answered 502"), wml_errors("deleting m", URL):
        send(f"{URL}/ml/v4/models/m")
        raise WMLClientError("Deletion failed.", logg_messages=False)


def test_fldecls_own_errors_cross_the_boundary_unchanged() -> None:
    own = InputError("model file missing")
    with pytest.raises(FldeclError) as caught, wml_errors("creating Model/m", URL):
        raise own
    assert caught.value is own
