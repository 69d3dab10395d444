"""The long-lived shim process (what ``start`` forks).

Main thread: a selector over the listening socket and the signal wakeup
pipe.  SIGCHLD -> :meth:`Reaper.reap`; a connection -> a server thread.
SIGTERM/SIGINT or the last container's Shutdown -> exit.  The shim is a
child subreaper so container processes are re-parented to it.
"""
import os
import select
import sys
import threading

import _signal as signal     # C modules: signal.py and socket.py import enum, selectors
import _socket as socket

from ._events import Publisher
from ._reaper import Reaper, set_subreaper
from ._server import Server
from ._service import SERVICE, TaskService

__all__ = ["run"]


class Log:
    """Lines to containerd's ``log`` FIFO in the bundle (or nowhere)."""

    def __init__(self):
        self.fd = None
        try:
            self.fd = os.open("log", os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            self.fd = None

    def __call__(self, msg):
        if self.fd is None:
            return
        import time
        line = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + \
            f' level=info msg="{msg}" runtime=io.containerd.servin.v2\n'
        try:
            os.write(self.fd, line.encode())
        except OSError:
            pass


def run(listen_fd, namespace, address, publish_binary, socket_path, debug=False):
    set_subreaper()
    log = Log()
    # A bug in a worker thread must not vanish (stderr is /dev/null).
    threading.excepthook = lambda a: log(
        f"internal error in thread {a.thread.name if a.thread else '?'}: "
        f"{a.exc_type.__name__}: {a.exc_value}")
    stop = threading.Event()
    rfd, wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
    # Python-level handlers are no-ops: the wakeup fd carries the signal.
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *a: None)

    reaper = Reaper()
    publisher = Publisher(namespace, os.environ.get("TTRPC_ADDRESS"), publish_binary,
                          address, reaper, log)

    def shutdown_now():
        # Called after the Shutdown reply was written.
        publisher.flush(2.0)
        try:
            os.unlink(socket_path)
        except OSError:
            pass
        os._exit(0)

    service = TaskService(reaper, publisher, namespace, shutdown_now, log)
    server = Server(log, debug=debug)
    server.register(SERVICE, service.methods())

    os.set_inheritable(listen_fd, False)      # inherited from `start`: keep it ours
    lsock = socket.socket(fileno=listen_fd)
    lsock.setblocking(False)
    poller = select.poll()
    poller.register(listen_fd, select.POLLIN)
    poller.register(rfd, select.POLLIN)
    try:
        while not stop.is_set():
            try:
                ready = poller.poll()
            except InterruptedError:
                continue
            for fd, _ in ready:
                if fd == listen_fd:
                    try:
                        cfd, _ = lsock._accept()
                    except (BlockingIOError, InterruptedError):
                        continue
                    conn = socket.socket(fileno=cfd)
                    conn.setblocking(True)
                    server.serve_connection(conn)
                else:
                    try:
                        sigs = os.read(rfd, 512)
                    except BlockingIOError:
                        sigs = b""
                    reaper.reap()
                    if any(s in (signal.SIGTERM, signal.SIGINT) for s in sigs):
                        stop.set()
    finally:
        publisher.flush(2.0)
        try:
            os.unlink(socket_path)
        except OSError:
            pass
        lsock.close()
        server.close_connections()
    # Daemon threads (IO copies, waits) end with the process.
    sys.stdout.flush()
    os._exit(0)
