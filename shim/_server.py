"""ttrpc over unix sockets with blocking I/O and threads.

The shim is a long-lived process per container and its memory counts, so
this wrapper uses plain sockets and threads (no asyncio, whose import alone
costs more than the rest of the shim); :mod:`servin.shim.aio` wraps the same
sans-IO core for asyncio users.

Threads: one per connection reads frames; each request runs in its own
thread, because containerd multiplexes calls on one connection and some
(Wait) block until a process exits.  Responses are written under a
per-connection lock.
"""
import threading

import _socket as socket     # the C module: socket.py imports enum and selectors (~3 ms, RSS)

from . import _codes
from ._errors import RPCError, ShimError
from ._ttrpc import Connection, Data, Oversized, ProtocolError, Request, Response
from ._wire import CODEC

__all__ = ["Server", "Client", "Method"]


class Method:
    """One RPC: how to decode its request and the function that answers it."""

    __slots__ = ("request_type", "fn", "after")

    def __init__(self, request_type, fn, after=None):
        self.request_type = request_type
        self.fn = fn
        self.after = after          # called once the response is written


class Server:
    def __init__(self, log=None, debug=False):
        self.methods = {}           # (service, method) -> Method
        self.log = log or (lambda msg: None)
        self.debug = debug          # log every call with its outcome
        self._conns = set()
        self._lock = threading.Lock()

    def register(self, service, methods):
        for name, m in methods.items():
            self.methods[(service, name)] = m

    # -- per connection -------------------------------------------------------
    def serve_connection(self, sock):
        t = threading.Thread(target=self._serve, args=(sock,), daemon=True)
        t.start()
        return t

    def _serve(self, sock):
        conn = Connection(CODEC, client=False)
        wlock = threading.Lock()
        with self._lock:
            self._conns.add(sock)
        try:
            while True:
                try:
                    data = sock.recv(65536)
                except OSError:
                    break
                if not data:
                    break
                try:
                    events = conn.feed(data)
                except ProtocolError as e:
                    self.log(f"ttrpc: closing connection: {e}")
                    break
                for ev in events:
                    if isinstance(ev, Request):
                        threading.Thread(target=self._handle, args=(sock, conn, wlock, ev),
                                         daemon=True).start()
                    elif isinstance(ev, Oversized):
                        if ev.type == 1:
                            self._send(sock, conn, wlock, ev.stream_id,
                                       _codes.RESOURCE_EXHAUSTED,
                                       f"message length {ev.length} exceeds maximum message size")
                    elif isinstance(ev, Data):
                        pass        # no streaming methods in the task API
        finally:
            with self._lock:
                self._conns.discard(sock)
            try:
                sock.close()
            except OSError:
                pass

    def _handle(self, sock, conn, wlock, req):
        m = self.methods.get((req.service, req.method))
        code, message, payload = _codes.OK, "", b""
        if m is None:
            code = _codes.UNIMPLEMENTED
            message = f"{req.service}/{req.method} is not implemented"
        else:
            try:
                resp = m.fn(m.request_type.FromString(req.payload))
                payload = resp.SerializeToString()
            except ShimError as e:
                code, message = e.code, e.message
            except Exception as e:        # a bug: report it, keep serving
                code, message = _codes.UNKNOWN, f"{type(e).__name__}: {e}"
                self.log(f"ttrpc: {req.service}/{req.method} failed: {message}")
        if self.debug:
            self.log(f"ttrpc: {req.method} -> {_codes.NAMES.get(code, code)} {message}".rstrip())
        self._send(sock, conn, wlock, req.stream_id, code, message, payload)
        if m is not None and m.after is not None and code == _codes.OK:
            m.after()

    @staticmethod
    def _send(sock, conn, wlock, sid, code, message, payload=b""):
        with wlock:
            try:
                sock.sendall(conn.send_response(sid, code, message, payload))
            except (OSError, ProtocolError):
                pass

    def close_connections(self):
        with self._lock:
            socks = list(self._conns)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Client:
    """A blocking ttrpc client; calls may come from several threads."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.conn = Connection(CODEC, client=True)
        self._lock = threading.Lock()
        self._done = {}
        self._cv = threading.Condition(self._lock)
        self._reading = False

    def call(self, service, method, request, response_type=None, timeout_nano=0):
        with self._cv:
            sid, out = self.conn.send_request(service, method, request.SerializeToString(),
                                              timeout_nano)
            self.sock.sendall(out)
            while sid not in self._done:
                if self._reading:
                    self._cv.wait()
                    continue
                self._reading = True
                self._cv.release()
                try:
                    data = self.sock.recv(65536)
                finally:
                    self._cv.acquire()
                    self._reading = False
                if not data:
                    self._cv.notify_all()
                    raise ConnectionError("ttrpc: connection closed by peer")
                for ev in self.conn.feed(data):
                    if isinstance(ev, Response):
                        self._done[ev.stream_id] = ev
                self._cv.notify_all()
            resp = self._done.pop(sid)
        if resp.code:
            raise RPCError(resp.code, resp.message)
        if response_type is None:
            return resp.payload
        return response_type.FromString(resp.payload)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
