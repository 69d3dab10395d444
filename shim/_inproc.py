"""The in-process runtime: the shim calls servin.runtime's library directly.

:class:`InProcessRuntime` implements :class:`~servin.shim._runtime.OCIRuntime`
with the functions servin-runc's commands call (``_container.create/start/
state/kill/delete``, ``_exec.execute``, ``_ops.pause/resume/pids/update``),
so no runtime process is started per call: the container's init is forked
by the shim itself (in C, servin._native: no Python runs in the child, so a
fork from the threaded shim is safe) and is the shim's own child, reaped by
its :class:`~servin.shim._reaper.Reaper`.

What the binary got from its process, the library gets from the shim's:

- **stdio**: the C child keeps fds 0-2 of the process that forks it.  The
  container's stdio is put on the shim's 0-2 (normally /dev/null) for the
  duration of the fork, under :data:`_STDIO_LOCK`, and put back after;
  nothing else in the shim uses fds 0-2 (runtime binaries are spawned with
  their own 0-2).
- **reaping**: the library waits for its hooks and, when a create fails, for
  the init by ``waitpid(pid)``; the shim's reaper (``waitpid(-1)`` on
  SIGCHLD) is held meanwhile so it cannot take those exits.

Errors: ``servin.runtime._errors.ServinError`` becomes ``NotFound`` (no such
container) or ``RuntimeFailed`` with the message servin-runc would print;
each is also written to the bundle's ``log.json`` like servin-runc's
``--log-format json`` line.
"""
import os
import threading

from ._errors import NotFound, RuntimeFailed
from ._runtime import OCIRuntime

__all__ = ["InProcessRuntime", "NAME"]

NAME = "servin.runtime"
_STDIO_LOCK = threading.Lock()


class InProcessRuntime(OCIRuntime):
    name = NAME

    def __init__(self, root, reaper, log_path=None):
        self.root = root
        self.reaper = reaper
        self.log_path = log_path

    # -- plumbing -------------------------------------------------------------------
    def _call(self, what, fn, *args, hold=False, stdio=None, **kwargs):
        from servin.runtime._errors import ContainerNotFound, ServinError
        try:
            if stdio is not None:
                with _STDIO_LOCK, self.reaper.hold(), _Stdio(stdio):
                    return fn(*args, **kwargs)
            if hold:
                with self.reaper.hold():
                    return fn(*args, **kwargs)
            return fn(*args, **kwargs)
        except ContainerNotFound as e:
            raise NotFound(f"{NAME} {what}: {e}") from None
        except ServinError as e:
            self._log_error(str(e))
            raise RuntimeFailed(f"{NAME} {what} failed: {e}") from None
        except OSError as e:
            self._log_error(str(e))
            raise RuntimeFailed(f"{NAME} {what} failed: {e}") from None

    def _log_error(self, msg):
        """The runc-style JSON error line servin-runc's --log writes."""
        if self.log_path:
            from servin.runtime.cli import Logger
            Logger(self.log_path, "json").error(msg)

    # -- OCIRuntime -----------------------------------------------------------------
    def create(self, id, bundle, pid_file, stdio, console_socket=None, no_pivot=False,
               no_new_keyring=False):
        from servin.runtime import _container
        sp = self._call("create", _container.create, self.root, id, os.path.abspath(bundle),
                        console_socket=console_socket, pid_file=pid_file, no_pivot=no_pivot,
                        no_new_keyring=no_new_keyring, detach=True, stdio=stdio or (None,) * 3)
        try:
            if sp.pty >= 0:            # only without a console socket, which we always give
                os.close(sp.pty)
            sp.close()
        finally:
            sp.container.unlock()

    def start(self, id):
        from servin.runtime import _container
        self._call("start", _container.start, self.root, id, hold=True)   # poststart hooks

    def exec(self, id, process_json_path, pid_file, stdio, console_socket=None):
        from servin.runtime import _exec
        o = _exec.Options(process_file=process_json_path, tty=bool(console_socket) or None)
        self._call("exec", _exec.execute, self.root, id, o, detach=True,
                   console_socket=console_socket, pid_file=pid_file, stdio=stdio or (None,) * 3)

    def kill(self, id, signal, all=False):
        from servin.runtime import _container
        self._call("kill", _container.kill, self.root, id, int(signal), all)

    def pause(self, id):
        from servin.runtime import _ops
        self._call("pause", _ops.pause, self.root, id)

    def resume(self, id):
        from servin.runtime import _ops
        self._call("resume", _ops.resume, self.root, id)

    def delete(self, id, force=False):
        from servin.runtime import _container
        self._call("delete", _container.delete, self.root, id, force, hold=True)   # poststop hooks

    def ps(self, id):
        from servin.runtime import _ops
        return self._call("ps", _ops.pids, self.root, id)

    def state(self, id):
        from servin.runtime import _container
        return self._call("state", _container.state, self.root, id)

    def update(self, id, resources_json_path):
        from servin.runtime import _ops

        def update():
            _ops.update(self.root, id, _ops.load_resources(resources_json_path))
        self._call("update", update)


class _Stdio:
    """Put three fds (None: /dev/null) on 0, 1, 2 of this process; restore after."""

    def __init__(self, fds):
        self.fds = fds
        self.saved = []

    def __enter__(self):
        null = -1
        try:
            self.saved = [os.dup(i) for i in range(3)]
            for i, fd in enumerate(self.fds):
                if fd is None:
                    if null < 0:
                        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
                    fd = null
                os.dup2(fd, i)
        except BaseException:
            self.__exit__()
            raise
        finally:
            if null >= 0:
                os.close(null)

    def __exit__(self, *exc):
        for i, fd in enumerate(self.saved):
            os.dup2(fd, i)
            os.close(fd)
        self.saved = []
