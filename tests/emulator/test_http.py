"""REST details the client relies on, checked with plain HTTPS calls (no client import needed)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from fldecl.emulator import EmulatorServer

from .helpers import session_for

VERSION = "2026-08-17"


def scoped(emulator: EmulatorServer, **extra: Any) -> dict[str, Any]:
    return {"version": VERSION, "project_id": emulator.project_id, **extra}


def create_party(http: requests.Session, emulator: EmulatorServer, name: str, tags: list[str]) -> str:
    response = http.post(f"{emulator.url}/ml/v4/remote_training_systems", params=scoped(emulator),
                         json={"name": name, "tags": tags, "allowed_identities": [{"id": "1", "type": "user"}]})
    assert response.status_code == 201, response.text
    return response.json()["metadata"]["id"]


def test_lists_page_with_default_and_capped_limits(emulator: EmulatorServer, http: requests.Session) -> None:
    created = [create_party(http, emulator, f"p{index}", ["bulk"]) for index in range(205)]
    url = f"{emulator.url}/ml/v4/remote_training_systems"

    first = http.get(url, params=scoped(emulator, total_count="true")).json()
    assert first["limit"] == 100 and len(first["resources"]) == 100 and first["total_count"] == 205
    capped = http.get(url, params=scoped(emulator, limit=500)).json()
    assert capped["limit"] == 200 and len(capped["resources"]) == 200

    seen: list[str] = []
    href = f"/ml/v4/remote_training_systems?version={VERSION}&project_id={emulator.project_id}&limit=200"
    while href:
        assert href.startswith("/ml/v4/remote_training_systems?")
        # the client re-appends its own parameters: duplicates must not change the page
        page = http.get(f"{emulator.url}/{href}&version={VERSION}&limit=200").json()
        seen += [item["metadata"]["id"] for item in page["resources"]]
        href = page.get("next", {}).get("href")
    assert seen == list(reversed(created))


def test_tag_value_filters_models_and_parties(emulator: EmulatorServer, http: requests.Session) -> None:
    for name, tags in (("a", ["x"]), ("b", ["x", "y"]), ("c", ["z"])):
        create_party(http, emulator, name, tags)
        http.post(f"{emulator.url}/ml/v4/models", params=scoped(emulator),
                  json={"name": name, "type": "pytorch-onnx_1.12", "tags": tags})

    def names(collection: str, expression: str) -> set[str]:
        page = http.get(f"{emulator.url}/ml/v4/{collection}", params=scoped(emulator, **{"tag.value": expression}))
        return {item["metadata"]["name"] for item in page.json()["resources"]}

    for collection in ("models", "remote_training_systems"):
        assert names(collection, "x") == {"a", "b"}
        assert names(collection, "x and y") == {"b"}
        assert names(collection, "y or z") == {"b", "c"}
        assert names(collection, "nothing") == set()


@pytest.mark.parametrize(("authorization", "path"), [
    (None, "/ml/v4/models"), ("Bearer not.a.token", "/ml/v4/models"), ("Basic abc", "/v2/spaces")])
def test_calls_without_a_valid_token_get_401(emulator: EmulatorServer, authorization: str | None,
                                             path: str) -> None:
    with session_for(emulator) as http:
        if authorization is None:
            del http.headers["Authorization"]
        else:
            http.headers["Authorization"] = authorization
        response = http.get(f"{emulator.url}{path}", params=scoped(emulator))
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "authentication_failed"


def test_authorize_issues_a_jwt_with_a_standard_base64_payload(emulator: EmulatorServer,
                                                               http: requests.Session) -> None:
    refused = http.post(f"{emulator.url}/icp4d-api/v1/authorize", json={"username": "admin", "api_key": "wrong"})
    assert refused.status_code == 401 and refused.json()["_messageCode_"] == "401"
    token = http.post(f"{emulator.url}/icp4d-api/v1/authorize",
                      json={"username": emulator.username, "password": emulator.password}).json()["token"]
    payload = json.loads(base64.b64decode(token.split(".")[1] + "==="))
    assert payload["exp"] - time.time() > 11 * 3600


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    ("GET", "/ml/v4/models/nope", 404, "not_found"),
    ("PATCH", "/ml/v4/remote_training_systems/nope", 404, "not_found"),
    ("DELETE", "/ml/v4/trainings/nope", 404, "not_found"),
    ("GET", "/v2/software_specifications/nope", 404, "not_found"),
    ("GET", "/ml/v4/nothing", 404, "not_found"),
    ("PUT", "/ml/v4/models", 405, "method_not_allowed"),
])
def test_errors_use_the_wml_error_shape(emulator: EmulatorServer, http: requests.Session, method: str, path: str,
                                        status: int, code: str) -> None:
    response = http.request(method, f"{emulator.url}{path}", params=scoped(emulator), json=[])
    assert response.status_code == status
    body = response.json()
    assert body["trace"] and body["errors"][0]["code"] == code and body["errors"][0]["message"]


def test_project_scope_is_required_and_checked(emulator: EmulatorServer, http: requests.Session) -> None:
    missing = http.get(f"{emulator.url}/ml/v4/models", params={"version": VERSION})
    assert missing.status_code == 400
    unknown = http.get(f"{emulator.url}/ml/v4/models", params={"version": VERSION, "project_id": "other"})
    assert unknown.status_code == 404
    assert http.get(f"{emulator.url}/v2/projects/other").status_code == 404


def test_patch_rejects_paths_outside_the_patchable_set(emulator: EmulatorServer, http: requests.Session) -> None:
    party = create_party(http, emulator, "p", [])
    url = f"{emulator.url}/ml/v4/remote_training_systems/{party}"
    refused = http.patch(url, params=scoped(emulator), json=[{"op": "replace", "path": "/owner", "value": "me"}])
    assert refused.status_code == 400
    partial = http.patch(url, params=scoped(emulator), json=[{"op": "add", "path": "/name", "value": "q"},
                                                             {"op": "remove", "path": "/custom"}])
    assert partial.status_code == 400
    assert http.get(url, params=scoped(emulator)).json()["metadata"]["name"] == "p"  # all or nothing


def test_dropped_connections_and_latency_are_injected(start_emulator: Callable[..., EmulatorServer]) -> None:
    emulator = start_emulator(drop_rate=1.0)
    with session_for(emulator) as http:
        with pytest.raises(requests.ConnectionError):
            http.get(f"{emulator.url}/v2/spaces")
        emulator.set_faults(drop_rate=0.0, latency_ms=300)
        started = time.monotonic()
        assert http.get(f"{emulator.url}/v2/spaces").status_code == 200
        assert time.monotonic() - started >= 0.3
    stats = emulator.stats()
    assert stats["faults"] == {"dropped": 1}
    assert stats["requests"] == {"GET /v2/spaces": 2}


def test_seeded_faults_repeat_and_control_endpoints_answer(emulator: EmulatorServer,
                                                          http: requests.Session) -> None:
    def statuses() -> list[int]:
        return [http.get(f"{emulator.url}/v2/spaces").status_code for _ in range(30)]

    control = f"{emulator.url}/_emulator"
    settings = http.post(f"{control}/faults", json={"error_rate": 0.5, "seed": 7}).json()
    assert settings["error_rate"] == 0.5 and settings["error_mix"] == {"500": 1.0, "503": 1.0, "429": 1.0}
    first = statuses()
    http.post(f"{control}/faults", json={})  # reseeds
    assert statuses() == first
    assert {200, 500, 503, 429} == set(first)
    assert http.post(f"{control}/faults", json={"error_rate": 2}).status_code == 400
    assert http.post(f"{control}/faults", json={"bogus": 1}).status_code == 400

    assert http.get(f"{control}/stats").json()["requests"]["GET /v2/spaces"] == 60
    assert http.post(f"{control}/stats/reset").json() == {"total": 0, "requests": {}, "faults": {}}
