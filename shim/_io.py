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

Output is never lost to a slow reader.  containerd's clients open their
end of a FIFO in a goroutine that can run tens of milliseconds late, and
give it up (with what it would have read) once the process is deleted.  So:

- the shim opens its end of each output FIFO *before* the runtime starts
  the process (:meth:`ProcessIO.child_stdio`), waiting up to
  :data:`READER_WAIT` for the reader (as containerd's runc shim blocks in
  that open); a reader already waiting in open(2) is let through at once.
  With no reader by then the FIFO is held read-write, so what is written
  waits in it for a late reader;
- at EOF the copy keeps the FIFO open until its reader has taken what was
  written (FIONREAD on the FIFO is 0), the reader went away, or
  :data:`DRAIN_WAIT` passed — closing a FIFO nobody has open yet would
  discard its contents;
- :meth:`ProcessIO.flush` waits until everything an exited process wrote
  has been read from the FIFO; the service calls it before it reports the
  exit (Wait, TaskExit), so a client never learns of the exit before it
  has the output.

Each copy is one thread that polls its source and a cancel pipe, so
:meth:`ProcessIO.close` can stop it.  ``file://PATH`` targets append to a
file; plain paths are FIFOs.
"""
import errno
import os
import select
import stat
import struct
import threading
import time

import _socket as socket     # the C module: socket.py imports enum and selectors

from ._errors import InvalidArgument, NotImplementedRPC

__all__ = ["ProcessIO", "ConsoleSocket", "resize"]

_CHUNK = 32768
# How long the shim keeps an output FIFO open, after the process's side
# reached EOF, for its reader to take what was written; and how long the
# exit of a process waits for its output to be read (ProcessIO.flush).
DRAIN_WAIT = 2.0
# How long the shim waits, before a process starts, for the reader of an
# output FIFO to open its end.
READER_WAIT = 2.0
_FIONREAD = 0x541B          # termios.FIONREAD on Linux (no termios import)


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


def _open_output(target, deadline):
    """The shim's (blocking) write end of an output target, opened now.

    A FIFO's reader is waited for until ``deadline`` (time.monotonic()), as
    containerd's clients open their end late; a reader blocked in open(2)
    counts, and is let through by this open.  With no reader by then the
    FIFO is opened read-write: that never blocks, and what is written
    stays in the FIFO for a reader that comes later (up to a pipe's
    buffer: then the process blocks on its output).
    """
    delay = 0.001
    while True:
        try:
            fd = _open_target(target, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as e:
            if e.errno != errno.ENXIO:
                raise
        if time.monotonic() >= deadline:
            fd = _open_target(target, os.O_RDWR | os.O_NONBLOCK)
            break
        time.sleep(delay)
        delay = min(delay * 2, 0.01)
    os.set_blocking(fd, True)
    return fd


def _unread(fd):
    """Bytes waiting in a pipe, FIFO or pty (FIONREAD)."""
    import fcntl
    return struct.unpack("i", fcntl.ioctl(fd, _FIONREAD, b"\0\0\0\0"))[0]


class _Copy(threading.Thread):
    """Copy src fd -> dst fd until EOF or cancel, then close them.

    ``dst`` is -1 when there is nowhere to copy to (output is drained and
    dropped).  A chunk is read and written under ``_lock``, so
    :meth:`flushed` sees either none or all of it.
    """

    def __init__(self, src, dst, cancel_fd, close_src=True, name=""):
        super().__init__(daemon=True, name=name)
        self.src = src
        self.dst = dst
        self.cancel_fd = cancel_fd
        self.close_src = close_src
        self.fifo = dst >= 0 and stat.S_ISFIFO(os.fstat(dst).st_mode)
        self.done = False
        self._lock = threading.Lock()

    def run(self):
        poller = select.poll()
        poller.register(self.src, select.POLLIN)
        poller.register(self.cancel_fd, select.POLLIN)
        try:
            while True:
                events = dict(poller.poll())
                if self.cancel_fd in events:
                    return
                with self._lock:
                    if not self._move():
                        break
            self._drain()
        except OSError:
            pass
        finally:
            self._finish()

    def _move(self):
        """Copy one chunk; False at EOF."""
        try:
            data = os.read(self.src, _CHUNK)
        except BlockingIOError:
            return True
        except OSError as e:
            if e.errno == errno.EIO:       # pty: the slave side closed
                return False
            raise
        if not data:
            return False
        if self.dst >= 0:
            try:
                _write_all(self.dst, data)
            except OSError:
                # The reader went away: drop output from now on.
                os.close(self.dst)
                self.dst = -1
        return True

    def _drain(self):
        """At EOF: keep the FIFO open until its reader took what is in it."""
        if not self.fifo or self.dst < 0:
            return
        deadline = time.monotonic() + DRAIN_WAIT
        poller = select.poll()
        poller.register(self.cancel_fd, select.POLLIN)
        poller.register(self.dst, 0)       # POLLERR: no reader any more
        while not self._taken():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if poller.poll(min(left, 0.005) * 1000):
                return                     # cancelled, or the reader left

    def _taken(self):
        """Has the FIFO's reader taken everything written to it (or left)?"""
        if not self.fifo or self.dst < 0:
            return True
        if _unread(self.dst) == 0:
            return True
        p = select.poll()
        p.register(self.dst, 0)
        return bool(p.poll(0))             # POLLERR: the reader went away

    def flushed(self, deadline):
        """Wait until what is in src now has been copied and read from the
        FIFO (or the copy ended); False if ``deadline`` passed first."""
        while True:
            left = deadline - time.monotonic()
            if self._lock.acquire(timeout=max(left, 0)):
                try:
                    if self.done or self.ident is None:
                        return True
                    if _unread(self.src) == 0 and self._taken():
                        return True
                except OSError:
                    return True
                finally:
                    self._lock.release()
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.002)

    def _finish(self):
        with self._lock:
            self.done = True
            if self.dst >= 0:
                os.close(self.dst)
                self.dst = -1
            if self.close_src and self.src >= 0:
                try:
                    os.close(self.src)
                except OSError:
                    pass
                self.src = -1


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
        self._out = {}                # 1/2 -> our end of an output target, not yet copied to
        self._threads = []
        self._cancel_r, self._cancel_w = os.pipe()
        self.console = None           # pty master fd when terminal
        self._pty_stdin = None

    # -- pipes ------------------------------------------------------------------
    def child_stdio(self):
        """Open the output targets, then make the three fds to give the
        runtime (None = /dev/null; all None with a terminal, whose pty comes
        later through the console socket)."""
        self._open_outputs()
        fds = [None, None, None]
        if self.terminal:
            return tuple(fds)
        if self.stdin:
            r, w = os.pipe()
            self._stdin_w = w
            fds[0] = r
            self._child.append(r)
        for i in (1, 2):
            if i not in self._out:
                continue
            r, w = os.pipe()
            fds[i] = w
            self._child.append(w)
            self._threads.append(_Copy(r, self._out.pop(i), self._cancel_r, name=f"out{i}"))
        return tuple(fds)

    def _open_outputs(self):
        """Our ends of the output targets, before the process exists (see the
        module's docstring); one that can't be opened drops its output."""
        targets = [(1, self.stdout)] if self.terminal else [(1, self.stdout), (2, self.stderr)]
        deadline = time.monotonic() + READER_WAIT
        try:
            for i, target in targets:
                if target and i not in self._out:
                    try:
                        self._out[i] = _open_output(target, deadline)
                    except OSError:
                        self._out[i] = -1
        except BaseException:
            self._close_outputs()
            raise

    def _close_outputs(self):
        for fd in self._out.values():
            if fd >= 0:
                os.close(fd)
        self._out = {}

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
            if 1 not in self._out:
                self._open_outputs()
            t = _Copy(master, self._out.pop(1), self._cancel_r, close_src=False,
                      name="pty-out")
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
    def _copies(self):
        return [t for t in self._threads if isinstance(t, _Copy)]

    def flush(self, timeout):
        """Wait until what the process wrote so far has gone through the
        copies and been read from the output FIFOs (or the reader left).
        False if ``timeout`` seconds passed first."""
        deadline = time.monotonic() + timeout
        ok = True
        for t in self._copies():
            ok = t.flushed(deadline) and ok
        return ok

    def wait(self, timeout):
        """Wait for the output copies to end (up to ``timeout`` seconds)."""
        end = time.monotonic() + timeout
        for t in self._copies():
            if t.ident is not None:
                t.join(max(0, end - time.monotonic()))

    def close(self):
        """Stop every copy and close every fd (idempotent)."""
        if self._cancel_w is None:
            return
        os.write(self._cancel_w, b"x")
        for t in self._threads:
            if t.ident is not None:
                t.join(2)
            elif isinstance(t, _Copy):
                t._finish()            # never started: close its fds
        for fd in self._child:
            os.close(fd)
        self._child = []
        self._close_outputs()
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
