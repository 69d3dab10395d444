"""Child reaping for the shim (a child subreaper).

The shim is the subreaper of everything it starts: the runtime binary's
invocations (its direct children) and the container processes (re-parented
to the shim when the runtime exits).  Only this module calls waitpid, always
``waitpid(-1, WNOHANG)`` from :meth:`Reaper.reap` when SIGCHLD arrives, and
every exit lands in one table:

- :meth:`Reaper.wait` blocks until a given pid (a runtime invocation) exited;
- :meth:`Reaper.monitor` calls back when a container process exits, even if
  it exited before the shim learned its pid (the exit waits in the table).

Commands are started with posix_spawn and waited on here (subprocess would
both call waitpid itself and cost the shim a megabyte of imports).

:meth:`Reaper.hold` defers reaping while code that waits for its own
children by pid runs in the shim (the in-process runtime: its hooks and
failed-create cleanup call ``waitpid(pid)``); exits are collected when the
last hold ends.
"""
import os
import threading

import _signal as signal     # the C module: signal.py imports enum
import time

__all__ = ["Reaper", "set_subreaper", "exit_code"]

PR_SET_CHILD_SUBREAPER = 36


def set_subreaper():
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def exit_code(status):
    """waitpid status -> the exit status containerd expects (128+sig if killed)."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


class Reaper:
    def __init__(self):
        self._cv = threading.Condition()
        self._exits = {}        # pid -> (exit code, time)
        self._monitors = {}     # pid -> callback(pid, code, when)
        self._held = 0          # > 0: reap() defers (see hold())
        self._pending = False

    def hold(self):
        """Context manager: no waitpid(-1) until it ends (then one reap)."""
        return _Hold(self)

    def reap(self):
        """Collect every exited child; called on SIGCHLD (any thread)."""
        ready = []
        with self._cv:
            if self._held:
                self._pending = True
                return
            while True:
                try:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
                item = (exit_code(status), time.time())
                cb = self._monitors.pop(pid, None)
                if cb is not None:
                    ready.append((cb, pid, item))
                else:
                    self._exits[pid] = item
            if len(self._exits) > 4096:     # exits nobody asked for
                for pid in sorted(self._exits, key=lambda p: self._exits[p][1])[:2048]:
                    del self._exits[pid]
            self._cv.notify_all()
        for cb, pid, (code, when) in ready:
            cb(pid, code, when)

    def wait(self, pid, timeout=None):
        """Exit code of a child; blocks until it exits."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self.reap()
        with self._cv:
            while pid not in self._exits:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(f"pid {pid} did not exit")
                # Woken by reap(); a slow poll too, in case nothing reaps
                # (no SIGCHLD handler, e.g. the `delete` action).
                self._cv.wait(0.05 if left is None else min(left, 0.05))
                if pid not in self._exits:
                    self._cv.release()
                    try:
                        self.reap()
                    finally:
                        self._cv.acquire()
            return self._exits.pop(pid)[0]

    def monitor(self, pid, callback):
        """Call ``callback(pid, code, when)`` once ``pid`` exits (maybe now)."""
        with self._cv:
            item = self._exits.pop(pid, None)
            if item is None:
                self._monitors[pid] = callback
                return
        callback(pid, *item)

    def forget(self, pid):
        with self._cv:
            self._monitors.pop(pid, None)

    def run(self, args, stdin=None, stdout=None, stderr=None, env=None, input=None,
            capture=False, timeout=None):
        """Run a command to completion; return (code, stdout bytes, stderr bytes).

        ``stdin``/``stdout``/``stderr`` are fds for the child (None: /dev/null);
        ``capture`` reads stdout and stderr through pipes; ``input`` is written
        to its stdin.  The child is started with posix_spawn (no subprocess:
        the shim stays small) and waited here.  Past ``timeout`` seconds it
        is killed and TimeoutError raised.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        mine = []                       # fds to close in the parent afterwards
        out_r = err_r = in_w = None
        if capture:
            out_r, stdout = os.pipe()
            err_r, stderr = os.pipe()
            mine += [stdout, stderr]
        if input is not None:
            stdin, in_w = os.pipe()
            mine.append(stdin)
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        mine.append(null)
        actions = [(os.POSIX_SPAWN_DUP2, null if fd is None else fd, i)
                   for i, fd in enumerate((stdin, stdout, stderr))]
        try:
            pid = os.posix_spawnp(args[0], args, os.environ if env is None else env,
                                  file_actions=actions, setsigmask=(),
                                  setsigdef=_DEFAULT_SIGNALS)
        finally:
            for fd in mine:
                os.close(fd)
        out = err = b""
        try:
            if in_w is not None:
                try:
                    _write_all(in_w, input)
                except BrokenPipeError:
                    pass
                os.close(in_w)
                in_w = None
            if capture:
                out, err = _read_both(out_r, err_r, deadline)
        except TimeoutError:
            pass
        finally:
            for fd in (in_w, out_r, err_r):
                if fd is not None:
                    os.close(fd)
        try:
            code = self.wait(pid, None if deadline is None else max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            os.kill(pid, signal.SIGKILL)
            self.wait(pid)
            raise TimeoutError(f"{args[0]} {' '.join(args[1:3])}: no answer in {timeout} s") from None
        return code, out, err


class _Hold:
    def __init__(self, reaper):
        self.r = reaper

    def __enter__(self):
        with self.r._cv:
            self.r._held += 1

    def __exit__(self, *exc):
        with self.r._cv:
            self.r._held -= 1
            again = self.r._pending and not self.r._held
            if again:
                self.r._pending = False
        if again:
            self.r.reap()


_DEFAULT_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGCHLD, signal.SIGTERM,
                    signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_both(out_r, err_r, deadline=None):
    """Read two pipes to EOF without a thread (TimeoutError past deadline)."""
    import select
    bufs = {out_r: [], err_r: []}
    poller = select.poll()
    for fd in bufs:
        poller.register(fd, select.POLLIN | select.POLLHUP)
    open_fds = set(bufs)
    while open_fds:
        left = None if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
        ready = poller.poll(left)
        if not ready and deadline is not None:
            raise TimeoutError("pipes still open")
        for fd, _ in ready:
            data = os.read(fd, 65536)
            if data:
                bufs[fd].append(data)
            else:
                poller.unregister(fd)
                open_fds.discard(fd)
    return b"".join(bufs[out_r]), b"".join(bufs[err_r])
