"""The local runtime's wire format: length-prefixed frames over a (TLS) socket, one
:class:`~fldecl.fl.protocol.Message` each, a JSON header plus raw binary payloads.

Nothing on the wire is pickled: a frame is ``u32 header length | JSON header | payloads``, where the
header names the message type, its fields and the byte length of each payload. Ciphertexts and
model arrays travel as payloads, so a 10 MB update is not inflated by base64.

Before the workflow's tasks, a party says ``hello`` {training_id, party} and the aggregator answers
``welcome`` {max_timeout} or ``refused`` {reason}. Every task then carries a ``task_id`` field,
which the party's reply carries back.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import time
from typing import Any

from fldecl.fl.errors import ConnectionClosed, WireError
from fldecl.fl.protocol import Message

_HEADER_LENGTH = struct.Struct(">I")
MAX_HEADER_BYTES = 4 * 1024 * 1024
MAX_FRAME_BYTES = 2 * 1024**3
HELLO, WELCOME, REFUSED = "hello", "welcome", "refused"
HANDSHAKE_TIMEOUT = 30.0
"""Short steps (TLS handshake, hello, abort) get this long; waits for training use the job's max_timeout."""
TASK_ID = "task_id"
"""The field that pairs a task with its reply on the wire."""


class Connection:
    """A framed, byte-counting connection. Every receive has a deadline: a silent peer cannot hang us."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.bytes_sent = 0
        self.bytes_received = 0

    def send(self, message: Message, timeout: float) -> int:
        """Send one message; returns the bytes it took on the wire (before TLS overhead)."""
        frame = encode(message)
        self.sock.settimeout(timeout)
        try:
            self.sock.sendall(frame)
        except (OSError, ValueError) as error:
            raise ConnectionClosed(f"connection lost while sending: {error}") from error
        self.bytes_sent += len(frame)
        return len(frame)

    def receive(self, timeout: float) -> Message:
        """Read one whole message within ``timeout`` seconds (raises TimeoutError otherwise)."""
        deadline = time.monotonic() + timeout
        (header_length,) = _HEADER_LENGTH.unpack(self._read_exactly(_HEADER_LENGTH.size, deadline))
        if header_length > MAX_HEADER_BYTES:
            raise WireError(f"frame header of {header_length} bytes exceeds the {MAX_HEADER_BYTES} byte limit")
        header = _parse_header(self._read_exactly(header_length, deadline))
        sizes = header["payload_sizes"]
        if sum(sizes) > MAX_FRAME_BYTES:
            raise WireError(f"frame of {sum(sizes)} bytes exceeds the {MAX_FRAME_BYTES} byte limit")
        payloads = [self._read_exactly(size, deadline) for size in sizes]
        self.bytes_received += _HEADER_LENGTH.size + header_length + sum(sizes)
        return Message(header["type"], header["fields"], payloads)

    def has_buffered_data(self) -> bool:
        """True when TLS already decrypted bytes that ``select`` cannot see."""
        pending = getattr(self.sock, "pending", None)
        return bool(pending and pending())

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def _read_exactly(self, size: int, deadline: float) -> bytes:
        buffer = bytearray(size)
        view = memoryview(buffer)
        received = 0
        while received < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("timed out waiting for the peer")
            self.sock.settimeout(remaining)
            try:
                count = self.sock.recv_into(view[received:], min(size - received, 1 << 20))
            except TimeoutError as error:
                raise TimeoutError("timed out waiting for the peer") from error
            except ConnectionError as error:
                raise ConnectionClosed(f"connection lost: {error}") from error
            if count == 0:
                raise ConnectionClosed("the peer closed the connection")
            received += count
        return bytes(buffer)


def encode(message: Message) -> bytes:
    """``u32 header length | JSON header | payloads``."""
    header = json.dumps(
        {"type": message.type, "fields": message.fields, "payload_sizes": [len(payload) for payload in message.payloads]},
        separators=(",", ":"),
    ).encode()
    return b"".join([_HEADER_LENGTH.pack(len(header)), header, *message.payloads])


def _parse_header(raw: bytes) -> dict[str, Any]:
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WireError(f"frame header is not JSON: {error}") from error
    valid = (
        isinstance(header, dict)
        and isinstance(header.get("type"), str)
        and isinstance(header.get("fields"), dict)
        and isinstance(header.get("payload_sizes"), list)
        and all(isinstance(size, int) and size >= 0 for size in header["payload_sizes"])
    )
    if not valid:
        raise WireError("frame header lacks type, fields or payload_sizes")
    return dict(header)
