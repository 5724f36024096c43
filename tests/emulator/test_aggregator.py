"""WML's aggregator in the emulator: honest life cycle, who may open the websocket, frames without pickles."""

from __future__ import annotations

import io
import pickle
import time
import zipfile
from collections.abc import Callable
from typing import Any

import msgpack
import msgpack_numpy
import numpy as np
import pytest

from fldecl.emulator import EmulatorServer
from fldecl.emulator.aggregator.frames import FrameError, Message, MessageType, pack, unpack

from .helpers import session_for

VERSION = "2026-08-17"


def stored_model(emulator: EmulatorServer) -> str:
    """A scikit-learn model asset whose zip holds one file (the aggregator never opens the pickle)."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("model.pickle", b"not read by the aggregator")
    scope = {"version": VERSION, "project_id": emulator.project_id}
    with session_for(emulator) as http:
        model = http.post(f"{emulator.url}/ml/v4/models", params=scope,
                          json={"name": "initial", "type": "scikit-learn_1.1", "software_spec": {"id": "x"}}).json()
        model_id = str(model["metadata"]["id"])
        assert http.put(f"{emulator.url}/ml/v4/models/{model_id}/content", params=scope, data=archive.getvalue()).status_code == 201
    return model_id


def create_training(emulator: EmulatorServer, parties: list[dict[str, Any]], max_timeout: float) -> str:
    body = {"name": "aggregator", "project_id": emulator.project_id, "results_reference": {},
            "federated_learning": {"fusion_type": "iter_avg", "rounds": 2, "model": {"spec": {"id": stored_model(emulator)}},
                                   "remote_training": {"quorum": 1.0, "max_timeout": max_timeout,
                                                       "remote_training_systems": parties}}}
    with session_for(emulator) as http:
        response = http.post(f"{emulator.url}/ml/v4/trainings", params={"version": VERSION}, json=body)
    assert response.status_code == 201
    return str(response.json()["metadata"]["id"])


def states_until_terminal(emulator: EmulatorServer, training_id: str, seconds: float) -> list[str]:
    states: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = emulator.app.store.get("training", training_id)["entity"]["status"]["state"]
        if not states or states[-1] != state:
            states.append(state)
        if state in ("completed", "failed", "canceled"):
            break
        time.sleep(0.05)
    return states


def test_a_training_nobody_joins_waits_for_its_parties_and_fails_at_max_timeout(
        start_emulator: Callable[..., EmulatorServer]) -> None:
    emulator = start_emulator(simulate_trainings=False)
    training_id = create_training(emulator, [{"id": "rts-a", "required": True}, {"id": "rts-b"}], max_timeout=4)
    time.sleep(1)
    assert emulator.app.store.get("training", training_id)["entity"]["status"]["state"] == "accepting_parties"
    assert states_until_terminal(emulator, training_id, 15)[-1] == "failed"
    status = emulator.app.store.get("training", training_id)["entity"]["status"]
    assert "completed" not in [status["state"]] and not status.get("metrics")
    assert status["failure"]["errors"][0]["message"] == (
        "Required remote training system(s) rts-a did not register within max_timeout (4 s); the training is stopped.")


def test_only_listed_parties_with_a_valid_token_reach_the_websocket(start_emulator: Callable[..., EmulatorServer]) -> None:
    emulator = start_emulator(simulate_trainings=False)
    training_id = create_training(emulator, [{"id": "rts-a"}], max_timeout=30)
    url = f"{emulator.url}/ml/v4/trainings/{training_id}/aggregator:443"
    upgrade = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    with session_for(emulator) as http:
        assert http.get(url, headers={**upgrade, "rtsid": "rts-z"}).status_code == 403
        assert http.get(f"{emulator.url}/ml/v4/trainings/unknown/aggregator:443",
                        headers={**upgrade, "rtsid": "rts-a"}).status_code == 404
        http.headers["Authorization"] = "Bearer not-a-token"
        assert http.get(url, headers={**upgrade, "rtsid": "rts-a"}).status_code == 401
    emulator.set_training_state(training_id, "canceled")


def test_frames_round_trip_numbers_and_refuse_pickles() -> None:
    weights = [np.arange(6, dtype=np.float32).reshape(2, 3), np.ones(3)]
    frame = pack(Message(MessageType.TRAIN, 7, {"payload": {"weights": weights, "weights_dtype": np.dtype("float32")}}))
    message = unpack(frame)
    assert (message.message_type, message.id_request, message.sender) == (MessageType.TRAIN, 7, None)
    assert message.data["payload"]["weights_dtype"] == np.dtype("float32")
    np.testing.assert_array_equal(message.data["payload"]["weights"][0], weights[0])

    objects = np.array([{"run": "code"}], dtype=object)
    hostile = msgpack.packb({"header": {"id_request": 1, "message_type": 7, "sender_info": "rts-a"},
                             "data": {"payload": objects}}, default=msgpack_numpy.encode)
    with pytest.raises(FrameError, match="kind b'O'"):
        unpack(hostile)
    pickled = msgpack.packb({"header": {"id_request": 1, "message_type": 7, "sender_info": "rts-a"},
                             "data": msgpack.ExtType(2, pickle.dumps(object()))})
    with pytest.raises(FrameError, match="extension type 2"):
        unpack(pickled)
