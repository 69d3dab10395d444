"""ttrpc framing and stream bookkeeping, without I/O (sans-IO, h11 style).

ttrpc is containerd's small RPC protocol for shims.  Every message on the
connection is a frame::

    +-------------+-------------+------+-------+----------------+
    | length u32  | stream u32  | type | flags | payload        |
    | big endian  | big endian  |  u8  |  u8   | (length bytes) |
    +-------------+-------------+------+-------+----------------+

A frame of type REQUEST carries a ``ttrpc.Request`` protobuf (service,
method, payload, timeout, metadata), RESPONSE a ``ttrpc.Response`` (a
``google.rpc.Status`` and the payload), DATA raw bytes of a stream.  The
client opens streams with odd ids, counting up; each unary call is one
stream: a request frame, then one response frame on the same id.  Flags
carry the stream state of the sender: REMOTE_CLOSED (it will send no more),
REMOTE_OPEN (more data frames follow the request), NO_DATA (an empty data
frame that only closes).

:class:`Connection` is fed the bytes that arrived (:meth:`Connection.feed`)
and hands back events (:class:`Request`, :class:`Response`, :class:`Data`);
methods that send return the bytes to write.  Nothing here touches a socket,
a thread or a clock, so every rule is unit-tested on plain bytes.  The
protobuf messages themselves are encoded by the caller-provided codec (see
:mod:`servin.shim._wire`), so this module has no import beyond the standard
library.
"""
from __future__ import annotations

import struct

__all__ = [
    "HEADER_LENGTH", "MAX_MESSAGE", "REQUEST", "RESPONSE", "DATA",
    "FLAG_REMOTE_CLOSED", "FLAG_REMOTE_OPEN", "FLAG_NO_DATA",
    "Header", "FrameDecoder", "encode_frame", "Connection",
    "Request", "Response", "Data", "Oversized", "ProtocolError", "OversizedMessage",
]

HEADER_LENGTH = 10
MAX_MESSAGE = 4 << 20          # ttrpc's messageLengthMax: 4 MiB
REQUEST, RESPONSE, DATA = 1, 2, 3
FLAG_REMOTE_CLOSED, FLAG_REMOTE_OPEN, FLAG_NO_DATA = 0x1, 0x2, 0x4

_HEADER = struct.Struct(">IIBB")


class ProtocolError(Exception):
    """The peer broke the framing rules; the connection can't go on."""


class OversizedMessage(ProtocolError):
    """A frame longer than :data:`MAX_MESSAGE` to send.

    (On receive the payload is skipped and an :class:`Oversized` event names
    the stream, which the server answers with RESOURCE_EXHAUSTED as ttrpc
    does.)
    """

    def __init__(self, length, stream_id=0):
        super().__init__(f"message length {length} exceeds maximum message size of {MAX_MESSAGE}")
        self.length = length
        self.stream_id = stream_id


class Header(tuple):
    """(length, stream_id, type, flags) of one frame."""

    __slots__ = ()

    def __new__(cls, length, stream_id, type, flags=0):
        return tuple.__new__(cls, (length, stream_id, type, flags))

    length = property(lambda self: self[0])
    stream_id = property(lambda self: self[1])
    type = property(lambda self: self[2])
    flags = property(lambda self: self[3])

    def pack(self) -> bytes:
        return _HEADER.pack(*self)

    @classmethod
    def unpack(cls, data) -> "Header":
        if len(data) < HEADER_LENGTH:
            raise ProtocolError(f"short header: {len(data)} bytes")
        return cls(*_HEADER.unpack_from(data))


def encode_frame(stream_id: int, type: int, payload: bytes = b"", flags: int = 0) -> bytes:
    """The bytes of one frame; refuses payloads over :data:`MAX_MESSAGE`."""
    if len(payload) > MAX_MESSAGE:
        raise OversizedMessage(len(payload), stream_id)
    if not 0 <= stream_id < 1 << 32:
        raise ValueError(f"stream id out of range: {stream_id}")
    return _HEADER.pack(len(payload), stream_id, type, flags) + payload


class FrameDecoder:
    """Turns a byte stream into (Header, payload) pairs.

    Bytes may arrive split anywhere; :meth:`feed` buffers them and returns
    every complete frame.  An oversized frame's payload is skipped and the
    frame is returned with ``None`` as its payload; the decoder stays
    usable afterwards.
    """

    def __init__(self):
        self._buf = bytearray()
        self._skip = 0

    def feed(self, data: bytes):
        self._buf += data
        frames = []
        while True:
            if self._skip:
                n = min(self._skip, len(self._buf))
                del self._buf[:n]
                self._skip -= n
                if self._skip:
                    return frames
            if len(self._buf) < HEADER_LENGTH:
                return frames
            hdr = Header.unpack(self._buf)
            if hdr.length > MAX_MESSAGE:
                # Skip the payload (now and as it arrives); report the frame
                # with payload None so its stream can be failed.
                del self._buf[:HEADER_LENGTH]
                self._skip = hdr.length
                frames.append((hdr, None))
                continue
            end = HEADER_LENGTH + hdr.length
            if len(self._buf) < end:
                return frames
            frames.append((hdr, bytes(self._buf[HEADER_LENGTH:end])))
            del self._buf[:end]

    @property
    def buffered(self) -> int:
        return len(self._buf)


# -- events -------------------------------------------------------------------

class Request:
    """A call arrived (server side)."""

    __slots__ = ("stream_id", "service", "method", "payload", "timeout_nano",
                 "metadata", "remote_closed")

    def __init__(self, stream_id, service, method, payload, timeout_nano=0,
                 metadata=(), remote_closed=True):
        self.stream_id = stream_id
        self.service = service
        self.method = method
        self.payload = payload
        self.timeout_nano = timeout_nano
        self.metadata = metadata
        self.remote_closed = remote_closed

    def __repr__(self):
        return f"Request({self.stream_id}, {self.service}/{self.method}, {len(self.payload)}B)"


class Response:
    """The answer to a call arrived (client side).  ``code`` 0 is OK."""

    __slots__ = ("stream_id", "code", "message", "payload")

    def __init__(self, stream_id, code, message, payload):
        self.stream_id = stream_id
        self.code = code
        self.message = message
        self.payload = payload

    def __repr__(self):
        return f"Response({self.stream_id}, code={self.code}, {len(self.payload)}B)"


class Data:
    """A data frame of a stream; ``closed`` when the sender closed its side."""

    __slots__ = ("stream_id", "data", "closed")

    def __init__(self, stream_id, data, closed):
        self.stream_id = stream_id
        self.data = data
        self.closed = closed

    def __repr__(self):
        return f"Data({self.stream_id}, {len(self.data)}B, closed={self.closed})"


class Oversized:
    """A frame over :data:`MAX_MESSAGE` arrived and was skipped."""

    __slots__ = ("stream_id", "length", "type")

    def __init__(self, stream_id, length, type):
        self.stream_id = stream_id
        self.length = length
        self.type = type

    def __repr__(self):
        return f"Oversized({self.stream_id}, {self.length}B)"


# -- the connection state machine ---------------------------------------------

class Connection:
    """One end of a ttrpc connection.

    ``client=True`` opens streams (odd ids from 1); the server answers.
    ``codec`` encodes and decodes the envelope messages and must provide
    ``encode_request(service, method, payload, timeout_nano, metadata)``,
    ``decode_request(bytes) -> (service, method, payload, timeout_nano, metadata)``,
    ``encode_response(code, message, payload)`` and
    ``decode_response(bytes) -> (code, message, payload)``.

    Stream state lives in two sets: streams that are open for us to send
    on, and streams the peer may still send on.  A frame on a stream that
    is not open is a protocol error, like in ttrpc.
    """

    def __init__(self, codec, client: bool):
        self.codec = codec
        self.client = client
        self._decoder = FrameDecoder()
        self._next_id = 1
        self._local_open = set()    # we may still send on these
        self._remote_open = set()   # the peer may still send on these
        self._pending = set()       # client: waiting for a response

    # client side ---------------------------------------------------------
    def send_request(self, service, method, payload, timeout_nano=0, metadata=(),
                     stream=False):
        """Open a stream with a request; return (stream_id, bytes to send).

        ``stream=True`` keeps our side open for :meth:`send_data`.
        """
        if not self.client:
            raise ProtocolError("only a client sends requests")
        sid = self._next_id
        self._next_id += 2
        body = self.codec.encode_request(service, method, payload, timeout_nano, metadata)
        flags = FLAG_REMOTE_OPEN if stream else 0
        out = encode_frame(sid, REQUEST, body, flags)
        self._pending.add(sid)
        self._remote_open.add(sid)
        if stream:
            self._local_open.add(sid)
        return sid, out

    # server side ---------------------------------------------------------
    def send_response(self, stream_id, code, message="", payload=b""):
        """Answer a request; closes the stream on our side."""
        if self.client:
            raise ProtocolError("only a server sends responses")
        if stream_id not in self._local_open:
            raise ProtocolError(f"stream {stream_id} is not open")
        self._local_open.discard(stream_id)
        self._remote_open.discard(stream_id)
        return encode_frame(stream_id, RESPONSE,
                            self.codec.encode_response(code, message, payload))

    # both ----------------------------------------------------------------
    def send_data(self, stream_id, data=b"", close=False):
        if stream_id not in self._local_open:
            raise ProtocolError(f"stream {stream_id} is not open for sending")
        flags = 0
        if close:
            flags |= FLAG_REMOTE_CLOSED
            if not data:
                flags |= FLAG_NO_DATA
            if self.client:
                self._local_open.discard(stream_id)
        return encode_frame(stream_id, DATA, data, flags)

    def feed(self, data: bytes):
        """Bytes from the peer -> list of events.

        Raises :class:`ProtocolError` on broken framing.  A frame too long
        to accept becomes an :class:`Oversized` event and the connection
        stays usable.
        """
        events = []
        for hdr, payload in self._decoder.feed(data):
            events.append(self._frame(hdr, payload))
        return events

    def _frame(self, hdr, payload):
        sid, typ, flags = hdr.stream_id, hdr.type, hdr.flags
        if payload is None:
            if typ == REQUEST and not self.client and sid % 2 == 1:
                self._local_open.add(sid)     # so it can be answered
            return Oversized(sid, hdr.length, typ)
        if typ == REQUEST:
            if self.client:
                raise ProtocolError("client received a request")
            if sid % 2 == 0:
                raise ProtocolError(f"request on even stream id {sid}")
            if sid in self._local_open:
                raise ProtocolError(f"stream {sid} already open")
            service, method, body, timeout, md = self.codec.decode_request(payload)
            remote_closed = not (flags & FLAG_REMOTE_OPEN)
            self._local_open.add(sid)
            if not remote_closed:
                self._remote_open.add(sid)
            return Request(sid, service, method, body, timeout, md, remote_closed)
        if typ == RESPONSE:
            if not self.client:
                raise ProtocolError("server received a response")
            if sid not in self._pending:
                raise ProtocolError(f"response on unknown stream {sid}")
            self._pending.discard(sid)
            self._remote_open.discard(sid)
            self._local_open.discard(sid)
            code, message, body = self.codec.decode_response(payload)
            return Response(sid, code, message, body)
        if typ == DATA:
            if sid not in self._remote_open:
                raise ProtocolError(f"data on stream {sid} which is not open")
            closed = bool(flags & FLAG_REMOTE_CLOSED)
            if closed:
                self._remote_open.discard(sid)
            if flags & FLAG_NO_DATA:
                payload = b""
            return Data(sid, payload, closed)
        raise ProtocolError(f"unknown frame type {typ}")

    @property
    def pending(self):
        """Client: stream ids still waiting for their response."""
        return frozenset(self._pending)
