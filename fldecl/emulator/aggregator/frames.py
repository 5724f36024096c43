"""IBM FL messages on the wire: binary msgpack frames, numpy arrays as msgpack-numpy maps.

A frame is ``{"header": {"id_request", "message_type", "sender_info"}, "data"}``. The party
runtime packs numpy arrays with msgpack-numpy and ``np.dtype`` values as extension type 3.
msgpack-numpy would unpickle an object array (kind ``O``), which runs whatever code the sender
chose, so :func:`unpack` refuses every array that is not plain numbers before msgpack-numpy
sees it; the extension types that carry pickles of other kinds (sketches, tree predictors) are
refused too.
"""

from __future__ import annotations

import enum
import itertools
import threading
from dataclasses import dataclass
from typing import Any

import msgpack  # type: ignore[import-untyped]  # no stubs
import msgpack_numpy  # type: ignore[import-untyped]  # no stubs
import numpy as np

from fldecl.errors import RuntimeFailure

DTYPE_EXTENSION = 3
PLAIN_ARRAY_KIND = b""


class MessageType(enum.IntEnum):
    """The message types of ``ibmfl.message.message_type`` that a WML aggregator exchanges."""

    REGISTER = 6
    TRAIN = 7
    EVAL_MODEL = 10
    ACK = 11
    SYNC_MODEL = 12
    STOP = 14
    REQUEST_CERT = 16
    GENERATE_KEYS = 17
    DISTRIBUTE_KEYS = 18
    SET_KEYS = 19
    ERROR_AUTH = 400


class FrameError(RuntimeFailure):
    """A frame the aggregator will not read: not msgpack, not a message, or carrying a pickle."""


@dataclass(frozen=True)
class Message:
    """One decoded frame. ``sender`` is the RTS id a party writes; the aggregator's requests carry none.
    A party's error report has no ``message_type``."""

    message_type: int | None
    id_request: int
    data: Any
    sender: str | None = None


_request_ids = itertools.count(1)
_request_ids_lock = threading.Lock()


def next_request_id() -> int:
    with _request_ids_lock:
        return next(_request_ids)


def _encode(value: Any) -> Any:
    if isinstance(value, np.dtype):
        return msgpack.ExtType(DTYPE_EXTENSION, value.str.encode())
    return msgpack_numpy.encode(value)


def _decode_map(value: dict[Any, Any]) -> Any:
    if value.get(b"nd") is True and value.get(b"kind", PLAIN_ARRAY_KIND) != PLAIN_ARRAY_KIND:
        raise FrameError(f"refusing a numpy array of kind {value.get(b'kind')!r}: only plain numeric arrays are accepted")
    return msgpack_numpy.decode(value)


def _extension(code: int, payload: bytes) -> Any:
    if code == DTYPE_EXTENSION:
        dtype = np.dtype(payload.decode("ascii"))
        if dtype.kind not in "biufc":
            raise FrameError(f"refusing dtype {dtype!r}: only numeric dtypes are accepted")
        return dtype
    raise FrameError(f"refusing msgpack extension type {code}: it carries a pickled object")


def pack(message: Message) -> bytes:
    message_type = None if message.message_type is None else int(message.message_type)
    header = {"id_request": message.id_request, "message_type": message_type, "sender_info": message.sender}
    return bytes(msgpack.packb({"header": header, "data": message.data}, default=_encode))


def unpack(frame: bytes) -> Message:
    try:
        document = msgpack.unpackb(frame, object_hook=_decode_map, ext_hook=_extension, strict_map_key=False)
        header = document["header"]
        message_type = header["message_type"]
        return Message(None if message_type is None else int(message_type), int(header["id_request"]),
                       document.get("data"), header.get("sender_info"))
    except FrameError:
        raise
    except (ValueError, TypeError, KeyError) as error:
        raise FrameError(f"not an IBM FL message: {error}") from error
