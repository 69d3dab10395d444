"""Child reaping for the shim (a child subreaper).

The shim is the subreaper of everything it starts: the runtime binary's
invocations (its direct children) and the container processes (re-parented
to the shim when the runtime exits).  Only this module calls waitpid, always
``waitpid(-1, WNOHANG)`` from :meth:`Reaper.reap` when SIGCHLD arrives, and
every exit lands in one table:

- :meth:`Reaper.wait` blocks until a given pid (a runtime invocation) exited;
- :meth:`Reaper.monitor` calls back when a container process exits, even if
  it exited before the shim learned its pid (the exit waits in the table).

subprocess' own waiting is never used: a Popen is started, then waited on
here, and its ``returncode`` filled in so it never calls waitpid itself.
"""
import os
import subprocess
import threading
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

    def reap(self):
        """Collect every exited child; called on SIGCHLD (any thread)."""
        ready = []
        with self._cv:
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

    def run(self, args, stdin=None, stdout=None, stderr=None, cwd=None, env=None,
            input=None, capture=False, pass_fds=()):
        """Run a command to completion; return (code, stdout bytes, stderr bytes).

        With ``capture`` the output is read through pipes; otherwise the
        given fds (or /dev/null) are used.
        """
        if capture:
            stdout = subprocess.PIPE
            stderr = subprocess.PIPE
        if input is not None:
            stdin = subprocess.PIPE
        p = subprocess.Popen(args, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                             stdout=stdout if stdout is not None else subprocess.DEVNULL,
                             stderr=stderr if stderr is not None else subprocess.DEVNULL,
                             cwd=cwd, env=env, pass_fds=pass_fds, close_fds=True)
        out = err = b""
        try:
            if input is not None:
                try:
                    p.stdin.write(input)
                except BrokenPipeError:
                    pass
                p.stdin.close()
            if capture:
                # stderr of a runtime is small; read stdout fully, then stderr.
                t = threading.Thread(target=lambda: setattr(p, "_err", p.stderr.read()))
                t.start()
                out = p.stdout.read()
                t.join()
                err = p._err
                p.stdout.close()
                p.stderr.close()
        finally:
            code = self.wait(p.pid)
            p.returncode = code
        return code, out, err
