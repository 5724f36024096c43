"""One party's websocket, served with wsproto on the connection the HTTPS server accepted.

The HTTP handler thread that received the upgrade keeps reading the socket (:meth:`PartyChannel.serve`);
the aggregator's thread sends requests and waits on futures that the reader completes when the
party's reply arrives. IBM's party acknowledges a TRAIN at once (ACK) and answers it when it has
trained, so a request's future completes on the answer, not on the ACK.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, BytesMessage, CloseConnection, Ping, Request, TextMessage

from fldecl.emulator.aggregator.frames import FrameError, Message, MessageType, next_request_id, pack, unpack
from fldecl.errors import RuntimeFailure

RECEIVE_BYTES = 1 << 16


class PartyGone(RuntimeFailure):
    """The party closed its websocket, or answered with an error, before replying."""


class PartyChannel:
    """A registered party's connection: requests out, replies in, byte counts for the benchmarks."""

    def __init__(self, connection: socket.socket, rts_id: str) -> None:
        self.rts_id = rts_id
        self.bytes_sent = 0
        self.bytes_received = 0
        self._socket = connection
        self._ws = WSConnection(ConnectionType.SERVER)
        self._send_lock = threading.Lock()
        self._pending: dict[int, tuple[int, Future[Any]]] = {}
        self._pending_lock = threading.Lock()
        self.closed = threading.Event()

    def accept(self, handshake: bytes, extra_headers: list[tuple[bytes, bytes]]) -> None:
        """Complete the upgrade that the HTTP handler has already read and checked."""
        self._ws.receive_data(handshake)
        for event in self._ws.events():
            if isinstance(event, Request):
                self._write(self._ws.send(AcceptConnection(extra_headers=extra_headers)))
                return
        raise FrameError("the upgrade request was not a websocket handshake")

    def request(self, message_type: MessageType, payload: Any) -> Future[Any]:
        """Send a request; the future gets the reply's ``payload`` (or :class:`PartyGone`)."""
        future: Future[Any] = Future()
        request_id = next_request_id()
        with self._pending_lock:
            if self.closed.is_set():
                future.set_exception(PartyGone(f"{self.rts_id} is not connected"))
                return future
            self._pending[request_id] = (int(message_type), future)
        try:
            self.send(Message(message_type, request_id, {"payload": payload}))
        except OSError as error:
            self._fail_pending(f"{self.rts_id} disconnected: {error}")
        return future

    def send(self, message: Message) -> None:
        frame = pack(message)
        with self._send_lock:
            self._write(self._ws.send(BytesMessage(data=frame)))
            self.bytes_sent += len(frame)

    def serve(self, on_message: Callable[[PartyChannel, Message], None]) -> None:
        """Read frames until the party leaves; replies complete futures, anything else goes to ``on_message``."""
        buffer = bytearray()
        try:
            while not self.closed.is_set():
                data = self._socket.recv(RECEIVE_BYTES)
                if not data:
                    break
                self._ws.receive_data(data)
                for event in self._ws.events():
                    if isinstance(event, (BytesMessage, TextMessage)):
                        buffer += event.data.encode() if isinstance(event.data, str) else event.data
                        if event.message_finished:
                            self.bytes_received += len(buffer)
                            self._dispatch(unpack(bytes(buffer)), on_message)
                            buffer.clear()
                    elif isinstance(event, Ping):
                        with self._send_lock:
                            self._write(self._ws.send(event.response()))
                    elif isinstance(event, CloseConnection):
                        with contextlib.suppress(OSError), self._send_lock:
                            self._write(self._ws.send(event.response()))
                        return
        except (OSError, FrameError) as error:
            self._fail_pending(f"{self.rts_id}: {error}")
        finally:
            self.close()

    def close(self) -> None:
        self.closed.set()
        self._fail_pending(f"{self.rts_id} left the training")
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)

    def _dispatch(self, message: Message, on_message: Callable[[PartyChannel, Message], None]) -> None:
        if message.message_type == MessageType.ACK:
            return
        data = message.data if isinstance(message.data, dict) else {}
        with self._pending_lock:
            waiting = self._pending.pop(message.id_request, None)
        if waiting is not None and waiting[0] == message.message_type:
            if data.get("status") == "error":
                waiting[1].set_exception(PartyGone(f"{self.rts_id} failed: {data.get('message') or 'see its log'}"))
            else:
                waiting[1].set_result(data.get("payload"))
            return
        if waiting is not None:
            with self._pending_lock:
                self._pending[message.id_request] = waiting
        if message.message_type is None or data.get("status") == "error":
            # The runtime answers a request it failed on with a fresh message that names no request.
            self._fail_pending(f"{self.rts_id} failed: {data.get('message') or 'see its log'}")
            return
        on_message(self, message)

    def _fail_pending(self, reason: str) -> None:
        with self._pending_lock:
            pending, self._pending = self._pending, {}
        for _, future in pending.values():
            if not future.done():
                future.set_exception(PartyGone(reason))

    def _write(self, data: bytes) -> None:
        self._socket.sendall(data)
