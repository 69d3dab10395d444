"""ttrpc for asyncio: the sans-IO core (:mod:`._ttrpc`) over asyncio streams.

For asyncio programs (the engine, tests, tools) that talk to a shim or
serve ttrpc.  The shim process itself uses :mod:`._server` instead, to stay
small.

    client = await AsyncClient.connect("/path/to/socket")
    resp = await client.call("containerd.task.v2.Task", "Connect",
                             shim_pb2.ConnectRequest(id="c1"), shim_pb2.ConnectResponse)

    server = AsyncServer({("svc", "Method"): Method(RequestType, async_or_sync_fn)})
    await server.serve_unix(path)        # or server.handle(reader, writer)
"""
import asyncio
import inspect

from . import _codes
from ._errors import RPCError, ShimError
from ._ttrpc import Connection, Oversized, ProtocolError, Request, Response
from ._wire import CODEC

__all__ = ["AsyncClient", "AsyncServer"]


class AsyncClient:
    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer
        self.conn = Connection(CODEC, client=True)
        self._waiters = {}
        self._task = asyncio.ensure_future(self._read_loop())

    @classmethod
    async def connect(cls, path):
        if path.startswith("unix://"):
            path = path[len("unix://"):]
        reader, writer = await asyncio.open_unix_connection(path)
        return cls(reader, writer)

    async def _read_loop(self):
        err = ConnectionError("ttrpc: connection closed")
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                for ev in self.conn.feed(data):
                    if isinstance(ev, Response):
                        fut = self._waiters.pop(ev.stream_id, None)
                        if fut is not None and not fut.done():
                            fut.set_result(ev)
        except (OSError, ProtocolError) as e:
            err = e
        for fut in self._waiters.values():
            if not fut.done():
                fut.set_exception(err)
        self._waiters.clear()

    async def call(self, service, method, request, response_type=None, timeout=None):
        sid, out = self.conn.send_request(
            service, method, request.SerializeToString(),
            int(timeout * 1e9) if timeout else 0)
        fut = asyncio.get_running_loop().create_future()
        self._waiters[sid] = fut
        self.writer.write(out)
        await self.writer.drain()
        resp = await asyncio.wait_for(fut, timeout)
        if resp.code:
            raise RPCError(resp.code, resp.message)
        return resp.payload if response_type is None else response_type.FromString(resp.payload)

    async def close(self):
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass
        self._task.cancel()


class AsyncServer:
    def __init__(self, methods=None):
        self.methods = dict(methods or {})

    def register(self, service, methods):
        for name, m in methods.items():
            self.methods[(service, name)] = m

    async def serve_unix(self, path):
        return await asyncio.start_unix_server(self.handle, path)

    async def handle(self, reader, writer):
        conn = Connection(CODEC, client=False)
        tasks = set()
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                for ev in conn.feed(data):
                    if isinstance(ev, Request):
                        t = asyncio.ensure_future(self._dispatch(conn, writer, ev))
                        tasks.add(t)
                        t.add_done_callback(tasks.discard)
                    elif isinstance(ev, Oversized) and ev.type == 1:
                        writer.write(conn.send_response(ev.stream_id, _codes.RESOURCE_EXHAUSTED,
                                                        "message too large"))
        except (OSError, ProtocolError):
            pass
        finally:
            for t in tasks:
                t.cancel()
            writer.close()

    async def _dispatch(self, conn, writer, req):
        m = self.methods.get((req.service, req.method))
        code, message, payload = _codes.OK, "", b""
        if m is None:
            code, message = _codes.UNIMPLEMENTED, f"{req.service}/{req.method} is not implemented"
        else:
            try:
                resp = m.fn(m.request_type.FromString(req.payload))
                if inspect.isawaitable(resp):
                    resp = await resp
                payload = resp.SerializeToString()
            except ShimError as e:
                code, message = e.code, e.message
            except Exception as e:
                code, message = _codes.UNKNOWN, f"{type(e).__name__}: {e}"
        try:
            writer.write(conn.send_response(req.stream_id, code, message, payload))
            await writer.drain()
        except (OSError, ProtocolError):
            pass
