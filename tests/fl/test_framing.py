"""The frame codec, the fusion strategies and the job description, without any training."""

from __future__ import annotations

import socket
import struct

import numpy as np
import pytest

from fldecl.fl.errors import ConnectionClosed, WireError
from fldecl.fl.framing import Connection
from fldecl.fl.fusion import CryptoIterAvg, FusionError, IterAvg, PlainCodec, encode_array, make_codec
from fldecl.fl.protocol import Message
from fldecl.fl.training_job import TrainingJob


@pytest.fixture
def pair():
    left, right = socket.socketpair()
    yield Connection(left), Connection(right)
    left.close()
    right.close()


def test_a_message_round_trips_with_its_payloads(pair):
    sender, receiver = pair
    message = Message("update", {"round": 2, "metrics": {"loss": 0.5}}, [b"\x00" * 10, b"abc"])
    sent = sender.send(message, 5)
    received = receiver.receive(5)
    assert (received.type, received.fields, received.payloads) == (message.type, message.fields, message.payloads)
    assert sent == sender.bytes_sent == receiver.bytes_received


def test_a_silent_peer_times_out(pair):
    with pytest.raises(TimeoutError):
        pair[1].receive(0.2)


def test_a_closed_peer_is_reported(pair):
    sender, receiver = pair
    sender.sock.close()
    with pytest.raises(ConnectionClosed):
        receiver.receive(1)


@pytest.mark.parametrize(
    "frame",
    [struct.pack(">I", 64 * 1024 * 1024), struct.pack(">I", 3) + b"{x}", struct.pack(">I", 2) + b"[]"],
    ids=["oversized header", "not JSON", "not a header"],
)
def test_invalid_frames_are_refused(pair, frame):
    pair[0].sock.sendall(frame)
    with pytest.raises(WireError):
        pair[1].receive(1)


def test_iter_avg_averages_and_refuses_mismatched_updates():
    codec = PlainCodec()
    fused = IterAvg().fuse({"a": codec.encode(np.array([1.0, 2.0], dtype=np.float32)), "b": codec.encode(np.array([3.0, 4.0]))})
    np.testing.assert_allclose(codec.decode(fused, 2), [2.0, 3.0])
    with pytest.raises(FusionError, match="different sizes"):
        IterAvg().fuse({"a": encode_array(np.zeros(2)), "b": encode_array(np.zeros(3))})
    with pytest.raises(FusionError, match="not a numeric array"):
        IterAvg().fuse({"a": b"garbage"})


def test_crypto_iter_avg_averages_in_each_partys_name_only():
    from fldecl.he import SecretKeyring

    keyring = SecretKeyring.generate("encryption_level_1")
    codecs = {name: make_codec("crypto_iter_avg", keyring, name) for name in ("Party_1", "Party_2")}
    strategy = CryptoIterAvg(keyring.public_context())
    updates = {"Party_1": np.array([1.0, 2.0]), "Party_2": np.array([3.0, 4.0])}
    fused = strategy.fuse({name: codecs[name].encode(update) for name, update in updates.items()})
    np.testing.assert_allclose(codecs["Party_1"].decode(fused, 2), [2.0, 3.0], atol=1e-6)
    with pytest.raises(FusionError, match="the update from Party_1 is in the name of Party_2"):
        strategy.fuse({"Party_1": codecs["Party_2"].encode(np.zeros(2))})


def test_a_job_survives_json(make_job, tmp_path):
    job = make_job()
    job.save(tmp_path / "job.json")
    assert TrainingJob.load(tmp_path / "job.json") == job


def test_fusion_types_the_local_backend_cannot_run_are_refused(make_job):
    with pytest.raises(ValueError, match="does not run on the local backend"):
        make_job(fusion_type="pfnm")
