"""Protobuf codec for the ttrpc envelope (ttrpc.Request / ttrpc.Response).

The only place the framing core meets protobuf: :class:`Codec` is what
:class:`servin.shim._ttrpc.Connection` calls to encode and decode the
envelope (with the shim's lean codec, :mod:`._pb`; the bytes are those of
the generated ``ttrpc_pb2`` messages, which the unit tests check).
"""
from . import _messages as ttrpc_pb2


class Codec:
    @staticmethod
    def encode_request(service, method, payload, timeout_nano=0, metadata=()):
        req = ttrpc_pb2.Request(service=service, method=method, payload=payload,
                                timeout_nano=timeout_nano)
        for k, v in metadata:
            req.metadata.add(key=k, value=v)
        return req.SerializeToString()

    @staticmethod
    def decode_request(data):
        req = ttrpc_pb2.Request.FromString(data)
        return (req.service, req.method, req.payload, req.timeout_nano,
                tuple((kv.key, kv.value) for kv in req.metadata))

    @staticmethod
    def encode_response(code, message, payload):
        resp = ttrpc_pb2.Response(payload=payload)
        # Always present, even for OK: some clients insist on a status.
        resp.status.SetInParent()
        resp.status.code = code
        resp.status.message = message
        return resp.SerializeToString()

    @staticmethod
    def decode_response(data):
        resp = ttrpc_pb2.Response.FromString(data)
        return resp.status.code, resp.status.message, resp.payload


CODEC = Codec()
