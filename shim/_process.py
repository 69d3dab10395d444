"""Init and exec processes of a container, and their state table.

Every rule about which operation is allowed in which state is in
:data:`ALLOWED`, one row per operation (containerd's runc shim keeps a state
class per process status whose wrong operations fail with e.g. "cannot
delete a running process"; this is the same table, flat).  A process only
changes state through :meth:`Process.transition`.

A process talks to the low-level runtime only through the
:class:`~servin.shim._runtime.OCIRuntime` it is given, and to its stdio only
through :class:`~servin.shim._io.ProcessIO`.
"""
import os
import threading
import time

from ._errors import FailedPrecondition, NotFound
from ._io import ConsoleSocket, ProcessIO

__all__ = ["ALLOWED", "check", "Process", "Init", "Exec",
           "CREATED", "RUNNING", "PAUSED", "STOPPED", "DELETED"]

# Values of containerd.v1.types.Status, so State can answer directly.
UNKNOWN, CREATED, RUNNING, STOPPED, PAUSED, PAUSING = 0, 1, 2, 3, 4, 5
DELETED = -1
NAMES = {CREATED: "created", RUNNING: "running", STOPPED: "stopped",
         PAUSED: "paused", PAUSING: "pausing", DELETED: "deleted", UNKNOWN: "unknown"}

# operation -> states in which it is allowed
ALLOWED = {
    "start":  {CREATED},
    "kill":   {CREATED, RUNNING, PAUSED},
    "pause":  {RUNNING},
    "resume": {PAUSED},
    "delete": {CREATED, STOPPED},
    "exec":   {CREATED, RUNNING, PAUSED},
    "resize": {CREATED, RUNNING, PAUSED},
    "update": {CREATED, RUNNING, PAUSED},
    "exit":   {CREATED, RUNNING, PAUSED},
}

# (operation, from state) -> new state; operations not listed keep the state.
NEXT = {
    ("start", CREATED): RUNNING,
    ("pause", RUNNING): PAUSED,
    ("resume", PAUSED): RUNNING,
    ("exit", CREATED): STOPPED,
    ("exit", RUNNING): STOPPED,
    ("exit", PAUSED): STOPPED,
    ("delete", CREATED): DELETED,
    ("delete", STOPPED): DELETED,
}


def check(op, state):
    """Raise the error containerd expects when ``op`` is wrong in ``state``."""
    if state in ALLOWED[op]:
        return
    if state == DELETED:
        raise NotFound(f"process already deleted")
    if op == "kill" and state == STOPPED:
        raise NotFound("process already finished")
    raise FailedPrecondition(f"cannot {op} a {NAMES[state]} process")


class Process:
    """What init and exec processes share: pid, status, exit, stdio, wait."""

    def __init__(self, container, id, io: ProcessIO):
        self.container = container
        self.id = id                  # "" for init, the exec id otherwise
        self.io = io
        self.pid = 0
        self.state = CREATED
        self.exit_status = 0
        self.exited_at = None         # epoch seconds
        self._exited = threading.Event()

    def transition(self, op):
        check(op, self.state)
        self.state = NEXT.get((op, self.state), self.state)

    def set_exited(self, code, when):
        if self.state in ALLOWED["exit"]:
            self.transition("exit")
        self.exit_status = code
        self.exited_at = when
        self._exited.set()

    def wait(self, timeout=None):
        return self._exited.wait(timeout)

    @property
    def exited(self):
        return self._exited.is_set()

    def _read_pid(self, pid_file):
        with open(pid_file) as f:
            return int(f.read().strip())

    def _launch(self, workdir, call):
        """Run the runtime's create or exec as ``call(stdio fds, console
        socket path or None)``.  The output FIFOs are opened before it
        starts the process (see :mod:`._io`); on failure the IO is closed."""
        console = None
        try:
            stdio = self.io.child_stdio()
            if self.io.terminal:
                console = ConsoleSocket(workdir)
            call(stdio, console.path if console else None)
            if console is not None:
                try:
                    self.io.attach_console(console.receive())
                finally:
                    console.close()
                    console = None
            self.io.started()
        except BaseException:
            if console is not None:
                console.close()
            self.io.close()
            raise

    def kill(self, signal, all=False):
        check("kill", self.state)
        self._kill(signal, all)

    def resize(self, width, height):
        check("resize", self.state)
        self.io.resize(width, height)

    def close_io(self):
        self.io.close_stdin()


class Init(Process):
    """The container's first process; its runtime calls name the container."""

    def __init__(self, container, io, runtime, bundle, workdir, no_pivot=False,
                 no_new_keyring=False):
        super().__init__(container, "", io)
        self.runtime = runtime
        self.bundle = bundle
        self.workdir = workdir
        self.no_pivot = no_pivot
        self.no_new_keyring = no_new_keyring

    def create(self):
        pid_file = os.path.join(self.workdir, "init.pid")
        self._launch(self.workdir, lambda stdio, console: self.runtime.create(
            self.container, self.bundle, pid_file, stdio, console, self.no_pivot, self.no_new_keyring))
        self.pid = self._read_pid(pid_file)

    def start(self):
        check("start", self.state)
        self.runtime.start(self.container)
        self.transition("start")

    def _kill(self, signal, all):
        self.runtime.kill(self.container, signal, all)

    def pause(self):
        check("pause", self.state)
        self.runtime.pause(self.container)
        self.transition("pause")

    def resume(self):
        check("resume", self.state)
        self.runtime.resume(self.container)
        self.transition("resume")

    def delete(self):
        check("delete", self.state)
        self.io.wait(2.0)
        try:
            self.runtime.delete(self.container, force=True)
        except NotFound:
            pass
        self.io.close()
        self.transition("delete")


class Exec(Process):
    """An extra process started in a running container."""

    def __init__(self, container, id, io, init: Init, spec: bytes):
        super().__init__(container, id, io)
        self.init = init
        self.spec = spec

    def start(self):
        check("start", self.state)
        check("exec", self.init.state)
        wd = self.init.workdir
        spec_path = os.path.join(wd, f"exec-{self.id}.json")
        pid_file = os.path.join(wd, f"exec-{self.id}.pid")
        # containerd's spec already says terminal: true/false as asked.
        with open(spec_path, "wb") as f:
            f.write(self.spec)
        try:
            self._launch(wd, lambda stdio, console: self.init.runtime.exec(
                self.container, spec_path, pid_file, stdio, console))
        finally:
            _unlink(spec_path)
        self.pid = self._read_pid(pid_file)
        _unlink(pid_file)
        self.transition("start")

    def _kill(self, signal, all):
        if self.pid <= 0:
            raise NotFound("process not started")
        try:
            os.kill(self.pid, signal)
        except ProcessLookupError:
            raise NotFound("process already finished") from None

    def delete(self):
        check("delete", self.state)
        self.io.wait(2.0)
        self.io.close()
        self.transition("delete")


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def now():
    return time.time()
