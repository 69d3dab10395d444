"""Container state: the status table and the state directory.

Statuses and the operations each allows live in one table (STYLE.md item 4),
tested row by row.  A container's directory under --root holds:

    state.json   written atomically (temp file + rename), mode 0600
    exec.fifo    present from create until start (its presence = "created")

The directory itself (mode 0700) is the lock: every operation holds
flock(LOCK_EX) on it.  The init's pid is stored with its start time from
/proc/<pid>/stat, so a recycled pid is never mistaken for the container.
"""
import errno
import fcntl
import os

from . import _json

from ._errors import ContainerExists, ContainerNotFound, InvalidState, ConfigError

CREATING = "creating"
CREATED = "created"
RUNNING = "running"
PAUSED = "paused"
STOPPED = "stopped"

# operation -> statuses in which it is allowed
ALLOWED = {
    "start": {CREATED},
    "kill": {CREATED, RUNNING, PAUSED},
    # runc (and containerd's runc shim, which deletes created tasks without
    # --force) delete a created container: the init is killed first.  The
    # runtime-spec says only stopped; see docs/runtime.md.
    "delete": {CREATED, STOPPED},
    "force-delete": {CREATING, CREATED, RUNNING, PAUSED, STOPPED},
    "pause": {RUNNING},
    "resume": {PAUSED},
    "exec": {CREATED, RUNNING},
}

WHY = {
    "start": "cannot start a container that is {status}",
    "kill": "cannot kill a container that is {status}",
    "delete": "cannot delete a container that is {status} (use --force)",
    "pause": "cannot pause a container that is {status}",
    "resume": "cannot resume a container that is {status}",
    "exec": "cannot exec in a container that is {status}",
}


def check(op, status, cid):
    """Raise InvalidState unless op is allowed in status."""
    if status not in ALLOWED[op]:
        raise InvalidState(f"container {cid}: " + WHY.get(op, "cannot {op} a container that is {status}")
                           .format(status=status, op=op))


MAX_ID = 1024
RESERVED = {".seccomp-cache"}   # names under --root that are not containers


def validate_id(cid):
    if not cid:
        raise ConfigError("container id is empty")
    if len(cid) > MAX_ID:
        raise ConfigError(f"container id is longer than {MAX_ID} characters")
    if cid in RESERVED:
        raise ConfigError(f"invalid container id {cid!r}: reserved by the runtime")
    if cid in (".", "..") or "/" in cid or "\0" in cid or cid != cid.strip() or "\n" in cid:
        raise ConfigError(f"invalid container id {cid!r}: no '/', NUL, newline, leading/trailing space, '.' or '..'")


def proc_start_time(pid):
    """Field 22 of /proc/<pid>/stat (start time in clock ticks) and the
    process state letter, or (None, None) when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None, None
    except OSError:
        return None, None
    rest = data[data.rindex(b")") + 2:].split()
    return int(rest[19]), rest[0].decode()


class Container:
    """One container's directory under --root."""

    def __init__(self, root, cid):
        self.root = root
        self.id = cid
        self.dir = os.path.join(root, cid)
        self.data = None
        self._lockfd = -1

    # -- locking ---------------------------------------------------------
    def lock(self):
        try:
            # never through a symlink planted in --root: delete would empty
            # the directory it points to
            self._lockfd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            raise ContainerNotFound(f"container {self.id} does not exist") from None
        except OSError as e:
            if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            raise ContainerNotFound(f"container {self.id} does not exist "
                                    f"({self.dir} is not a directory)") from None
        fcntl.flock(self._lockfd, fcntl.LOCK_EX)
        return self

    def unlock(self):
        if self._lockfd >= 0:
            os.close(self._lockfd)
            self._lockfd = -1

    def __enter__(self):
        return self.lock()

    def __exit__(self, *exc):
        self.unlock()

    @classmethod
    def make(cls, root, cid):
        """Create the container's directory (atomic: an existing id fails)."""
        validate_id(cid)
        os.makedirs(root, mode=0o700, exist_ok=True)
        c = cls(root, cid)
        try:
            os.mkdir(c.dir, 0o700)
        except FileExistsError:
            raise ContainerExists(f"container with id {cid} already exists") from None
        c.lock()
        return c

    # -- state file ------------------------------------------------------
    @property
    def state_path(self):
        return os.path.join(self.dir, "state.json")

    @property
    def fifo_path(self):
        return os.path.join(self.dir, "exec.fifo")

    def load(self):
        if os.path.islink(self.dir):
            raise ContainerNotFound(f"container {self.id} does not exist ({self.dir} is not a directory)")
        try:
            with open(self.state_path, "rb") as f:
                self.data = _json.loads(f.read())
        except FileNotFoundError:
            if not os.path.isdir(self.dir):
                raise ContainerNotFound(f"container {self.id} does not exist") from None
            # creating: the directory is there, the state is not yet
            self.data = None
        return self.data

    def save(self, data):
        tmp = os.path.join(self.dir, ".state.json.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(_json.dumps(data))
        os.rename(tmp, self.state_path)
        self.data = data

    # -- status ----------------------------------------------------------
    def alive(self):
        """The init is still the process we started (and not a zombie)."""
        d = self.data
        if not d or not d.get("pid"):
            return False
        start, st = proc_start_time(d["pid"])
        return start is not None and start == d.get("init_start") and st not in ("Z", "X")

    def status(self):
        if self.data is None:
            return CREATING
        if not self.alive():
            return STOPPED
        if os.path.exists(self.fifo_path):
            return CREATED
        frz = self.data.get("freezer")
        if frz and _frozen(frz):
            return PAUSED
        return RUNNING

    def oci_state(self):
        d = self.data or {}
        status = self.status()
        st = {
            "ociVersion": d.get("ociVersion", "1.2.0"),
            "id": self.id,
            "status": status,
        }
        if status not in (STOPPED, CREATING):
            st["pid"] = d.get("pid", 0)
        st["bundle"] = d.get("bundle", "")
        if d.get("annotations"):
            st["annotations"] = d["annotations"]
        return st


def _frozen(path):
    try:
        with open(path) as f:
            v = f.read().strip()
    except OSError:
        return False
    return v in ("FROZEN", "FREEZING", "1")


def list_ids(root):
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if n not in RESERVED and os.path.isdir(os.path.join(root, n))
                  and not os.path.islink(os.path.join(root, n)))
