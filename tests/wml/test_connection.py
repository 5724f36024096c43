"""Credentials from the environment only, TLS that really verifies, and errors that never show the API key."""

from __future__ import annotations

from typing import Any

import certifi
import pytest

from fldecl.core.errors import NotFoundError, ProviderError, TransientError
from fldecl.emulator import EmulatorServer
from fldecl.providers.wml.connection import Credentials, WmlSession
from tests.conftest import run_cli
from tests.wml.conftest import cli_env

CLOUD = {"WML_URL": "https://us-south.ml.cloud.ibm.com", "WML_APIKEY": "cloud-api-key-0123456789", "WML_PROJECT_ID": "p"}
CP4D = {"WML_URL": "https://cpd.example", "WML_USERNAME": "admin", "WML_APIKEY": "cpd-api-key-0123456789",
        "WML_INSTANCE_ID": "openshift", "WML_VERSION": "4.8", "WML_PROJECT_ID": "p"}


def without(environment: dict[str, str], name: str) -> dict[str, str]:
    return {key: value for key, value in environment.items() if key != name}


@pytest.mark.parametrize(("environment", "variable"), [
    ({}, "WML_URL"),
    ({**CLOUD, "WML_URL": "http://us-south.ml.cloud.ibm.com"}, "WML_URL"),
    (without(CLOUD, "WML_APIKEY"), "WML_APIKEY"),
    (without(CLOUD, "WML_PROJECT_ID"), "WML_PROJECT_ID"),
    ({**CLOUD, "WML_SPACE_ID": "s"}, "WML_PROJECT_ID"),
    ({**CLOUD, "WML_USERNAME": "admin"}, "WML_INSTANCE_ID"),
    (without(CP4D, "WML_USERNAME"), "WML_USERNAME"),
    (without(CP4D, "WML_APIKEY"), "WML_APIKEY"),
    (without(CP4D, "WML_VERSION"), "WML_VERSION"),
    ({**CLOUD, "WML_CA_BUNDLE": "/nonexistent/ca.pem"}, "WML_CA_BUNDLE"),
    ({**CLOUD, "WML_CA_BUNDLE": __file__}, "WML_CA_BUNDLE"),
])
def test_a_missing_or_wrong_variable_is_one_line_naming_it(environment: dict[str, str], variable: str) -> None:
    with pytest.raises(ProviderError) as caught:
        Credentials.from_environment(environment)
    message = str(caught.value)
    assert message.startswith(variable) and "\n" not in message
    assert not any(secret in message for secret in (CLOUD["WML_APIKEY"], CP4D["WML_APIKEY"]))


def test_credential_forms() -> None:
    assert Credentials.from_environment(CLOUD).for_client() == {"url": CLOUD["WML_URL"], "apikey": CLOUD["WML_APIKEY"]}
    password = {**without(CP4D, "WML_APIKEY"), "WML_PASSWORD": "pw-0123456789", "WML_SPACE_ID": "s"}
    credentials = Credentials.from_environment(without(password, "WML_PROJECT_ID"))
    assert credentials.for_client() == {"url": "https://cpd.example", "username": "admin", "instance_id": "openshift",
                                        "version": "4.8", "password": "pw-0123456789"}
    assert credentials.scope_variable == "WML_SPACE_ID"
    assert credentials.secrets == ("pw-0123456789",)


def test_the_cli_names_a_missing_variable_without_a_traceback(emulator: EmulatorServer, make_stack: Any) -> None:
    completed = run_cli("plan", str(make_stack()), "--backend", "wml", env=cli_env(without(emulator.env(), "WML_APIKEY")))
    assert completed.returncode == 1
    assert completed.stderr.startswith("Error: WML_APIKEY is not set") and completed.stderr.count("\n") == 1


def test_an_untrusted_certificate_is_refused_and_verification_never_falls_back(emulator: EmulatorServer,
                                                                                make_stack: Any) -> None:
    completed = run_cli("plan", str(make_stack()), "--backend", "wml", env=cli_env(without(emulator.env(), "WML_CA_BUNDLE")))
    assert completed.returncode == 1
    assert "the TLS certificate of " + emulator.url + " is not trusted" in completed.stderr
    assert "set WML_CA_BUNDLE" in completed.stderr and "Traceback" not in completed.stderr
    assert emulator.stats()["total"] == 0  # no request ever got through, so none went out unverified


def test_a_bundle_without_the_servers_ca_is_refused_in_process_too(emulator: EmulatorServer,
                                                                   wml_env: dict[str, str]) -> None:
    session = WmlSession(Credentials.from_environment({**wml_env, "WML_CA_BUNDLE": certifi.where()}))
    with pytest.raises(ProviderError, match="is not trusted"):
        _ = session.client
    assert emulator.stats()["total"] == 0


def test_a_wrong_api_key_is_refused_and_never_printed(emulator: EmulatorServer, wml_env: dict[str, str],
                                                      capfd: pytest.CaptureFixture[str]) -> None:
    wrong = "wrong-api-key-0123456789"
    session = WmlSession(Credentials.from_environment({**wml_env, "WML_APIKEY": wrong}))
    with pytest.raises(ProviderError) as caught:
        _ = session.client
    assert "refused the credentials: check WML_USERNAME and WML_APIKEY" in str(caught.value)
    captured = capfd.readouterr()
    assert wrong not in str(caught.value) + captured.out + captured.err
    assert session.clean(f"token request for {wrong} failed\nwith details") == "token request for *** failed with details"


def test_statuses_the_client_drops_still_decide_retries(emulator: EmulatorServer, wml_env: dict[str, str],
                                                        capfd: pytest.CaptureFixture[str]) -> None:
    session = WmlSession(Credentials.from_environment(wml_env))
    made = session.client.remote_training_systems.store({"name": "p", "allowed_identities": []})
    emulator.set_faults(error_rate=1.0, error_mix={429: 1}, retry_after_seconds=7)
    with pytest.raises(TransientError) as limited:
        session.call(lambda client: client.remote_training_systems.get_details(get_all=True), "listing")
    assert limited.value.retry_after == 7
    emulator.set_faults(error_mix={503: 1})
    with pytest.raises(TransientError, match="deleting p: WML answered 503"):
        session.call(lambda client: client.remote_training_systems.delete(made["metadata"]["id"]), "deleting p")
    emulator.set_faults(error_rate=0.0)
    with pytest.raises(NotFoundError):
        session.call(lambda client: client.remote_training_systems.delete("no-such-id"), "deleting q")
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""  # the client's prints and WARNING logs are silenced
