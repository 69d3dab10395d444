"""A process's stdio: containerd's FIFOs on one side, the process on the other.

containerd (or ctr) creates FIFOs and opens their far ends before it asks
the shim to create a process.  The shim gives the process pipes (or a pty
when a terminal is asked) and copies:

- stdin FIFO -> process stdin pipe; EOF on the FIFO (the writer closed) or
  CloseIO closes the pipe, so the process sees EOF;
- process stdout/stderr pipe -> stdout/stderr FIFO; when every writer in
  the container closed the pipe, the FIFO is closed, so the reader sees EOF.
  If the reader went away (a detached ``ctr run -d``), output is drained
  and dropped rather than blocking the container.

Each copy is one thread that polls its source and a cancel pipe, so
:meth:`ProcessIO.close` can stop it.  ``file://PATH`` targets append to a
file; plain paths are FIFOs.
"""
import errno
import os
import select
import struct
import threading

import _socket as socket     # the C module: socket.py imports enum and selectors

from ._errors import InvalidArgument, NotImplementedRPC

__all__ = ["ProcessIO", "ConsoleSocket", "resize"]

_CHUNK = 32768


def _open_target(uri, flags):
    """Open the shim's side of a stdio target (blocking until the peer opens)."""
    if uri.startswith("file://"):
        path = uri[len("file://"):]
        d = os.path.dirname(path)
        if d:
            os.makedirs(d, exist_ok=True)
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
    if uri.startswith("fifo://"):
        uri = uri[len("fifo://"):]
    elif "://" in uri:
        raise NotImplementedRPC(f"stdio scheme not supported: {uri}")
    return os.open(uri, flags | os.O_CLOEXEC)


class _Copy(threading.Thread):
    """Copy src fd -> dst (opened first by ``open_dst``) until EOF or cancel."""

    def __init__(self, src, open_dst, cancel_fd, close_src=True, on_eof=None, name=""):
        super().__init__(daemon=True, name=name)
        self.src = src
        self.open_dst = open_dst
        self.cancel_fd = cancel_fd
        self.close_src = close_src
        self.on_eof = on_eof

    def run(self):
        try:
            dst = self.open_dst()     # now, so an idle process still gives EOF
        except OSError:
            dst = -1
        poller = select.poll()
        poller.register(self.src, select.POLLIN)
        poller.register(self.cancel_fd, select.POLLIN)
        try:
            while True:
                events = dict(poller.poll())
                if self.cancel_fd in events:
                    return
                try:
                    data = os.read(self.src, _CHUNK)
                except BlockingIOError:
                    continue
                except OSError as e:
                    if e.errno == errno.EIO:       # pty: the slave side closed
                        return
                    raise
                if not data:
                    return
                if dst >= 0:
                    try:
                        _write_all(dst, data)
                    except OSError:
                        # The reader went away: drop output from now on.
                        os.close(dst)
                        dst = -1
        except OSError:
            pass
        finally:
            if dst >= 0:
                os.close(dst)
            if self.close_src:
                try:
                    os.close(self.src)
                except OSError:
                    pass
            if self.on_eof:
                self.on_eof()


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


class _StdinCopy(threading.Thread):
    """stdin FIFO -> process.  Opening the FIFO blocks until a writer appears."""

    def __init__(self, fifo, cancel_fd, io):
        super().__init__(daemon=True, name="stdin")
        self.fifo = fifo
        self.cancel_fd = cancel_fd
        self.io = io

    def run(self):
        src = None
        try:
            # Non-blocking open succeeds at once; poll then waits for the
            # writer's data or hang-up (a FIFO that never had a writer does
            # not report POLLHUP).
            src = os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            poller = select.poll()
            poller.register(src, select.POLLIN)
            poller.register(self.cancel_fd, select.POLLIN)
            while True:
                events = dict(poller.poll())
                if self.cancel_fd in events:
                    return
                try:
                    data = os.read(src, _CHUNK)
                except BlockingIOError:
                    continue
                if not data:
                    return
                dst = self.io._stdin_fd()
                if dst is None:
                    return
                try:
                    _write_all(dst, data)
                except OSError:
                    return
        except OSError:
            pass
        finally:
            if src is not None:
                os.close(src)
            self.io.close_stdin()


class ProcessIO:
    """Pipes (or a pty) between the FIFOs named by containerd and a process."""

    def __init__(self, stdin="", stdout="", stderr="", terminal=False):
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.terminal = terminal
        self._lock = threading.Lock()
        self._stdin_w = None          # our end of the process's stdin
        self._child = []              # fds handed to the runtime, closed after
        self._threads = []
        self._cancel_r, self._cancel_w = os.pipe()
        self.console = None           # pty master fd when terminal
        self._pty_stdin = None

    # -- pipes ------------------------------------------------------------------
    def child_stdio(self):
        """The three fds to give the runtime (None = /dev/null)."""
        fds = [None, None, None]
        if self.stdin:
            r, w = os.pipe()
            self._stdin_w = w
            fds[0] = r
            self._child.append(r)
        for i, target in ((1, self.stdout), (2, self.stderr)):
            if not target:
                continue
            r, w = os.pipe()
            fds[i] = w
            self._child.append(w)
            t = _Copy(r, self._opener(target), self._cancel_r, name=f"out{i}")
            self._threads.append(t)
        return tuple(fds)

    @staticmethod
    def _opener(target):
        def open_fifo():
            # The reader (containerd's client) opened its end before asking
            # for the process; if it is gone, hold the FIFO read-write so
            # the open can't block and the output waits in the FIFO.
            try:
                fd = _open_target(target, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as e:
                if e.errno != errno.ENXIO:
                    raise
                fd = _open_target(target, os.O_RDWR | os.O_NONBLOCK)
            os.set_blocking(fd, True)
            return fd
        return open_fifo

    def started(self):
        """The runtime has the child fds now: close ours, start copying."""
        for fd in self._child:
            os.close(fd)
        self._child = []
        if self.stdin and not self.terminal:
            self._threads.append(_StdinCopy(self.stdin, self._cancel_r, self))
        for t in self._threads:
            if not t.is_alive() and t.ident is None:
                t.start()

    def _stdin_fd(self):
        with self._lock:
            return self._stdin_w if self._pty_stdin is None else self._pty_stdin

    def close_stdin(self):
        with self._lock:
            if self.terminal:
                # A pty has no half-close: send EOF (^D) to the line discipline.
                if self.console is not None and self._pty_stdin is not None:
                    try:
                        os.write(self.console, b"\x04")
                    except OSError:
                        pass
                self._pty_stdin = None
                return
            if self._stdin_w is not None:
                os.close(self._stdin_w)
                self._stdin_w = None

    # -- terminal -----------------------------------------------------------------
    def attach_console(self, master):
        """Copy between the pty master and the FIFOs."""
        self.console = master
        if self.stdout:
            t = _Copy(master, self._opener(self.stdout), self._cancel_r,
                      close_src=False, name="pty-out")
            self._threads.append(t)
            t.start()
        if self.stdin:
            self._pty_stdin = master
            t = _StdinCopy(self.stdin, self._cancel_r, self)
            self._threads.append(t)
            t.start()

    def resize(self, width, height):
        if self.console is None:
            raise InvalidArgument("process has no terminal")
        resize(self.console, width, height)

    # -- shutdown -------------------------------------------------------------------
    def wait(self, timeout):
        """Wait for output copies to drain (up to ``timeout`` seconds)."""
        import time
        end = time.monotonic() + timeout
        for t in self._threads:
            if t.name.startswith(("out", "pty-out")) and t.ident is not None:
                t.join(max(0, end - time.monotonic()))

    def close(self):
        """Stop every copy and close every fd (idempotent)."""
        if self._cancel_w is None:
            return
        os.write(self._cancel_w, b"x")
        for t in self._threads:
            if t.ident is not None:
                t.join(2)
        for fd in self._child:
            os.close(fd)
        self._child = []
        self.close_stdin()
        with self._lock:
            if self.console is not None:
                os.close(self.console)
                self.console = None
        os.close(self._cancel_w)
        os.close(self._cancel_r)
        self._cancel_w = None


def resize(fd, width, height):
    import fcntl
    import termios
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def _recv_fds(sock, bufsize, maxfds):
    """The fds of one SCM_RIGHTS message (socket.recv_fds without socket.py)."""
    import array
    fds = array.array("i")
    _, anc, _, _ = sock.recvmsg(bufsize, socket.CMSG_LEN(maxfds * fds.itemsize))
    for level, typ, data in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            fds.frombytes(data[:len(data) - (len(data) % fds.itemsize)])
    return list(fds)


class ConsoleSocket:
    """The unix socket a runtime's ``--console-socket`` sends the pty master to."""

    _n = 0

    def __init__(self, directory):
        ConsoleSocket._n += 1
        self.dir = os.path.join(directory, f"pty{os.getpid()}-{ConsoleSocket._n}")
        os.mkdir(self.dir, 0o700)
        self.path = os.path.join(self.dir, "s")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(1)

    def receive(self, timeout=10.0):
        """The pty master fd sent by the runtime."""
        self.sock.settimeout(timeout)
        fd, _ = self.sock._accept()
        conn = socket.socket(fileno=fd)
        try:
            conn.settimeout(timeout)
            fds = _recv_fds(conn, 4096, 4)
        finally:
            conn.close()
        if not fds:
            raise OSError(errno.EPROTO, "no pty master received on the console socket")
        for extra in fds[1:]:
            os.close(extra)
        os.set_inheritable(fds[0], False)   # must not leak into later children
        os.set_blocking(fds[0], True)
        return fds[0]

    def close(self):
        self.sock.close()
        try:
            os.unlink(self.path)
            os.rmdir(self.dir)
        except OSError:
            pass
