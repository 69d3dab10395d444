"""The sans-IO ttrpc core on plain bytes: no sockets, no protobuf needed."""
import struct

import pytest

ttrpc = pytest.importorskip("servin.shim._ttrpc")
from servin.shim._ttrpc import (DATA, FLAG_NO_DATA, FLAG_REMOTE_CLOSED, FLAG_REMOTE_OPEN,  # noqa: E402
                                HEADER_LENGTH, MAX_MESSAGE, REQUEST, RESPONSE, Connection, Data,
                                FrameDecoder, Header, Oversized, OversizedMessage, ProtocolError,
                                Request, Response, encode_frame)


class FakeCodec:
    """Envelope codec without protobuf: fields joined by \\0."""

    @staticmethod
    def encode_request(service, method, payload, timeout_nano=0, metadata=()):
        return b"\0".join([service.encode(), method.encode(), str(timeout_nano).encode(), payload])

    @staticmethod
    def decode_request(data):
        s, m, t, p = data.split(b"\0", 3)
        return s.decode(), m.decode(), p, int(t), ()

    @staticmethod
    def encode_response(code, message, payload):
        return b"\0".join([str(code).encode(), message.encode(), payload])

    @staticmethod
    def decode_response(data):
        c, m, p = data.split(b"\0", 2)
        return int(c), m.decode(), p


def pair():
    return Connection(FakeCodec, client=True), Connection(FakeCodec, client=False)


# -- header -------------------------------------------------------------------

def test_header_layout_is_big_endian_10_bytes():
    raw = Header(5, 3, REQUEST, FLAG_REMOTE_OPEN).pack()
    assert len(raw) == HEADER_LENGTH == 10
    assert raw == struct.pack(">IIBB", 5, 3, 1, 2)
    assert raw == b"\x00\x00\x00\x05\x00\x00\x00\x03\x01\x02"


def test_header_roundtrip_and_fields():
    h = Header.unpack(Header(1 << 20, 0xFFFFFFFF, DATA, 7).pack())
    assert (h.length, h.stream_id, h.type, h.flags) == (1 << 20, 0xFFFFFFFF, DATA, 7)


def test_short_header_is_an_error():
    with pytest.raises(ProtocolError):
        Header.unpack(b"\0" * 9)


def test_encode_frame():
    f = encode_frame(1, RESPONSE, b"abc")
    assert f[:10] == struct.pack(">IIBB", 3, 1, 2, 0) and f[10:] == b"abc"


def test_encode_frame_refuses_oversized():
    with pytest.raises(OversizedMessage):
        encode_frame(1, REQUEST, b"x" * (MAX_MESSAGE + 1))


def test_encode_frame_stream_id_range():
    with pytest.raises(ValueError):
        encode_frame(1 << 32, REQUEST, b"")


# -- decoder --------------------------------------------------------------------

def test_decoder_byte_at_a_time():
    data = encode_frame(1, REQUEST, b"hello") + encode_frame(3, DATA, b"", FLAG_NO_DATA)
    d = FrameDecoder()
    frames = []
    for i in range(len(data)):
        frames += d.feed(data[i:i + 1])
    assert [(h.stream_id, h.type, p) for h, p in frames] == [(1, REQUEST, b"hello"), (3, DATA, b"")]
    assert d.buffered == 0


def test_decoder_many_frames_in_one_chunk():
    data = b"".join(encode_frame(i, DATA, bytes([i]) * i) for i in range(1, 40, 2))
    frames = FrameDecoder().feed(data)
    assert [p for _, p in frames] == [bytes([i]) * i for i in range(1, 40, 2)]


def test_decoder_skips_oversized_payload_and_recovers():
    big = MAX_MESSAGE + 10
    hdr = Header(big, 5, REQUEST).pack()
    d = FrameDecoder()
    frames = d.feed(hdr + b"x" * 1000)
    assert len(frames) == 1 and frames[0][1] is None and frames[0][0].stream_id == 5
    assert d.feed(b"x" * (big - 1000 - 5)) == []
    frames = d.feed(b"x" * 5 + encode_frame(7, REQUEST, b"ok"))
    assert [(h.stream_id, p) for h, p in frames] == [(7, b"ok")]


# -- connection: unary calls ---------------------------------------------------------

def test_unary_call_roundtrip():
    cli, srv = pair()
    sid, out = cli.send_request("svc", "M", b"req")
    assert sid == 1
    [ev] = srv.feed(out)
    assert isinstance(ev, Request)
    assert (ev.stream_id, ev.service, ev.method, ev.payload, ev.remote_closed) == (1, "svc", "M", b"req", True)
    [resp] = cli.feed(srv.send_response(1, 0, "", b"resp"))
    assert isinstance(resp, Response) and (resp.code, resp.payload) == (0, b"resp")
    assert cli.pending == frozenset()


def test_client_stream_ids_are_odd_and_increasing():
    cli, _ = pair()
    assert [cli.send_request("s", "m", b"")[0] for _ in range(4)] == [1, 3, 5, 7]


def test_concurrent_calls_answered_out_of_order():
    cli, srv = pair()
    a, out_a = cli.send_request("s", "Wait", b"")
    b, out_b = cli.send_request("s", "State", b"")
    evs = srv.feed(out_a + out_b)
    assert [e.stream_id for e in evs] == [a, b]
    r = cli.feed(srv.send_response(b, 0, "", b"B") + srv.send_response(a, 0, "", b"A"))
    assert [(x.stream_id, x.payload) for x in r] == [(b, b"B"), (a, b"A")]


def test_error_status_travels():
    cli, srv = pair()
    sid, out = cli.send_request("s", "m", b"")
    srv.feed(out)
    [r] = cli.feed(srv.send_response(sid, 5, "container not found"))
    assert (r.code, r.message) == (5, "container not found")


def test_request_frame_on_the_wire():
    cli, _ = pair()
    _, out = cli.send_request("s", "m", b"p")
    h = Header.unpack(out)
    assert (h.stream_id, h.type, h.flags) == (1, REQUEST, 0)
    assert h.length == len(out) - HEADER_LENGTH


# -- protocol errors ----------------------------------------------------------------------

def test_response_on_unknown_stream():
    cli, _ = pair()
    with pytest.raises(ProtocolError):
        cli.feed(encode_frame(9, RESPONSE, FakeCodec.encode_response(0, "", b"")))


def test_request_on_even_stream():
    _, srv = pair()
    with pytest.raises(ProtocolError):
        srv.feed(encode_frame(2, REQUEST, FakeCodec.encode_request("s", "m", b"")))


def test_request_reusing_open_stream():
    cli, srv = pair()
    _, out = cli.send_request("s", "m", b"")
    srv.feed(out)
    with pytest.raises(ProtocolError):
        srv.feed(out)


def test_server_does_not_answer_twice():
    cli, srv = pair()
    sid, out = cli.send_request("s", "m", b"")
    srv.feed(out)
    srv.send_response(sid, 0)
    with pytest.raises(ProtocolError):
        srv.send_response(sid, 0)


def test_unknown_frame_type():
    _, srv = pair()
    with pytest.raises(ProtocolError):
        srv.feed(encode_frame(1, 9, b""))


def test_roles_are_enforced():
    cli, srv = pair()
    with pytest.raises(ProtocolError):
        srv.send_request("s", "m", b"")
    with pytest.raises(ProtocolError):
        cli.send_response(1, 0)
    with pytest.raises(ProtocolError):
        cli.feed(encode_frame(1, REQUEST, FakeCodec.encode_request("s", "m", b"")))


def test_oversized_request_becomes_event_and_can_be_answered():
    cli, srv = pair()
    [ev] = srv.feed(Header(MAX_MESSAGE + 1, 1, REQUEST).pack())
    assert isinstance(ev, Oversized) and ev.stream_id == 1
    out = srv.send_response(1, 8, "message length exceeds maximum")
    assert Header.unpack(out).type == RESPONSE


# -- streams ----------------------------------------------------------------------------

def test_client_stream_data_then_close():
    cli, srv = pair()
    sid, out = cli.send_request("s", "Upload", b"", stream=True)
    assert Header.unpack(out).flags == FLAG_REMOTE_OPEN
    [req] = srv.feed(out)
    assert req.remote_closed is False
    evs = srv.feed(cli.send_data(sid, b"chunk1") + cli.send_data(sid, b"", close=True))
    assert [(type(e), e.data, e.closed) for e in evs] == [(Data, b"chunk1", False), (Data, b"", True)]
    # closed: more data on it is an error
    with pytest.raises(ProtocolError):
        cli.send_data(sid, b"late")
    with pytest.raises(ProtocolError):
        srv.feed(encode_frame(sid, DATA, b"late"))


def test_close_with_data_has_no_nodata_flag():
    cli, srv = pair()
    sid, out = cli.send_request("s", "m", b"", stream=True)
    srv.feed(out)
    frame = cli.send_data(sid, b"last", close=True)
    assert Header.unpack(frame).flags == FLAG_REMOTE_CLOSED
    [d] = srv.feed(frame)
    assert d.data == b"last" and d.closed


def test_server_streams_data_to_client():
    cli, srv = pair()
    sid, out = cli.send_request("s", "Watch", b"")
    srv.feed(out)
    evs = cli.feed(srv.send_data(sid, b"e1") + srv.send_data(sid, b"e2"))
    assert [e.data for e in evs] == [b"e1", b"e2"]
    [r] = cli.feed(srv.send_response(sid, 0))
    assert isinstance(r, Response)


def test_data_on_unary_request_stream_is_an_error():
    cli, srv = pair()
    sid, out = cli.send_request("s", "m", b"")
    srv.feed(out)
    with pytest.raises(ProtocolError):
        srv.feed(encode_frame(sid, DATA, b"x"))
