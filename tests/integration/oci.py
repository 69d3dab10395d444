"""Helpers for the OCI runtime integration tests.

Everything here drives a runtime binary with runc's command line (the one
named by ``OCI_RUNTIME``, default ``servin-runc``) on bundles generated in
Python.  Nothing is mocked: real namespaces, mounts and cgroups.

- ``find_runtime()`` / ``is_runc()`` - which binary is under test.
- ``base_config()`` - a config.json dict equivalent to ``runc spec`` with
  ``terminal: false``; tests edit it as a dict.
- ``build_rootfs()`` - a busybox rootfs from Debian's busybox-static.
- ``Context`` - one per test: a private ``--root``, bundles, unique ids,
  and the teardown that force-deletes and then proves nothing is left
  (state, processes, mounts, cgroups).
- ``ConsoleSocket`` - the receiving end of ``--console-socket``.
"""

import array
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid

import pytest

BUSYBOX = "/bin/busybox"
DEFAULT_RUNTIME = "servin-runc"
ENV_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# A runtime command that hangs is a failure, not a stuck suite (runc needs
# ~30 ms per command; this is generous for a loaded 2-core machine).
COMMAND_TIMEOUT = 10

USER_UID = 1000
USER_GID = 1000


def runc_deviates(reason):
    """Mark a test that follows the runtime-spec where runc 1.1.5 does not.

    The test xfails (strictly) only when the runtime under test is runc;
    ``reason`` names the spec section and what runc does instead.
    """
    return pytest.mark.runc_deviates(reason=reason)


def stricter_than_runc(reason):
    """Mark a test of a project rule (DESIGN.md, not the runtime-spec)
    that runc 1.1.5 does not meet; it xfails (strictly) only on runc."""
    return pytest.mark.stricter_than_runc(reason=reason)


# ---------------------------------------------------------------- runtime


def runtime_name():
    return os.environ.get("OCI_RUNTIME") or DEFAULT_RUNTIME


def find_runtime():
    """Absolute path of the runtime under test, or None if not found."""
    name = runtime_name()
    if os.sep in name:
        path = os.path.abspath(name)
        return path if os.access(path, os.X_OK) and os.path.isfile(path) else None
    return shutil.which(name)


_IS_RUNC = {}


def is_runc(binary):
    """True when ``binary`` is runc itself (the control runtime)."""
    if binary not in _IS_RUNC:
        try:
            out = subprocess.run([binary, "--version"], capture_output=True,
                                 text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        first = out.strip().splitlines()[0] if out.strip() else ""
        _IS_RUNC[binary] = first.startswith("runc ") or (
            not first and os.path.basename(binary) == "runc")
    return _IS_RUNC[binary]


class Result:
    """Exit status and decoded output of one runtime invocation."""

    def __init__(self, argv, rc, out, err):
        self.argv, self.rc, self.out, self.err = argv, rc, out, err

    @property
    def err_lines(self):
        return [line for line in self.err.splitlines() if line.strip()]

    @property
    def error_lines(self):
        """stderr lines that are not warnings (runc: level=warning; a
        runtime may warn about a config it accepts before failing)."""
        return [line for line in self.err_lines
                if "warn" not in line.lower()]

    def __repr__(self):
        return "Result(argv=%r, rc=%r, out=%r, err=%r)" % (
            self.argv, self.rc, self.out[-2000:], self.err[-2000:])


class Runtime:
    """The binary under test with a private ``--root``."""

    def __init__(self, binary, root):
        self.binary = binary
        self.root = root

    def argv(self, args, global_args=()):
        return [self.binary, "--root", self.root, *global_args, *args]

    def __call__(self, *args, global_args=(), input=None, stdin=None,
                 stdout=None, stderr=None, timeout=COMMAND_TIMEOUT, cwd=None):
        """Run one command and wait for it; output is captured unless
        ``stdout``/``stderr`` name files (needed for create and run -d:
        the container inherits them and would hold a pipe open)."""
        argv = self.argv(args, global_args)
        kw = {}
        if input is not None:
            kw["input"] = input.encode() if isinstance(input, str) else input
        else:
            kw["stdin"] = stdin if stdin is not None else subprocess.DEVNULL
        proc = subprocess.run(argv, stdout=stdout or subprocess.PIPE,
                              stderr=stderr or subprocess.PIPE,
                              timeout=timeout, cwd=cwd, **kw)
        out = proc.stdout.decode(errors="replace") if proc.stdout else ""
        err = proc.stderr.decode(errors="replace") if proc.stderr else ""
        return Result(argv, proc.returncode, out, err)

    def state(self, cid):
        res = self("state", cid)
        assert res.rc == 0, res
        return json.loads(res.out)

    def status(self, cid):
        res = self("state", cid)
        if res.rc != 0:
            return None
        return json.loads(res.out)["status"]

    def ids(self):
        res = self("list", "-q")
        assert res.rc == 0, res
        return [line.strip() for line in res.out.splitlines() if line.strip()]


# ---------------------------------------------------------------- bundles


def base_config(args=("sh",)):
    """config.json as ``runc spec`` writes it, with terminal false."""
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    return {
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": list(args),
            "env": [ENV_PATH, "TERM=xterm"],
            "cwd": "/",
            "capabilities": {k: list(caps) for k in
                             ("bounding", "effective", "permitted", "ambient")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "runc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666",
                         "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777",
                         "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue",
             "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup",
             "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in
                           ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list",
                "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                "/proc/scsi"],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                "/proc/sysrq-trigger"],
        },
    }


def build_rootfs(dest):
    """A busybox rootfs at ``dest`` (created).

    ``busybox --install -s`` links applets to the absolute host path of the
    binary, which does not exist inside the container, so each applet link
    is rewritten to the relative name ``busybox``.
    """
    bindir = os.path.join(dest, "bin")
    os.makedirs(bindir)
    shutil.copy2(BUSYBOX, os.path.join(bindir, "busybox"))
    subprocess.run([os.path.join(bindir, "busybox"), "--install", "-s", bindir],
                   check=True)
    for name in os.listdir(bindir):
        path = os.path.join(bindir, name)
        if os.path.islink(path):
            os.unlink(path)
            os.symlink("busybox", path)
    for d in ("proc", "sys", "dev", "tmp", "etc", "root", "mnt",
              "home/user"):
        os.makedirs(os.path.join(dest, d), exist_ok=True)
    os.chmod(os.path.join(dest, "tmp"), 0o1777)
    os.chown(os.path.join(dest, "home/user"), USER_UID, USER_GID)
    with open(os.path.join(dest, "etc/passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n"
                "user:x:%d:%d:user:/home/user:/bin/sh\n" % (USER_UID, USER_GID))
    with open(os.path.join(dest, "etc/group"), "w") as f:
        f.write("root:x:0:\nwheel:x:10:\nusers:x:100:\nuser:x:%d:\n" % USER_GID)
    return dest


def clone_rootfs(template, dest):
    """A per-test copy of the template: directories and symlinks are
    recreated, regular files hard-linked (nothing writes to them), so a
    copy costs a few milliseconds."""
    for dirpath, dirnames, filenames in os.walk(template):
        rel = os.path.relpath(dirpath, template)
        target = os.path.join(dest, rel) if rel != "." else dest
        st = os.lstat(dirpath)
        os.makedirs(target, exist_ok=True)
        os.chmod(target, st.st_mode & 0o7777)
        os.chown(target, st.st_uid, st.st_gid)
        for name in dirnames + filenames:
            src = os.path.join(dirpath, name)
            dst = os.path.join(target, name)
            if os.path.islink(src):
                os.symlink(os.readlink(src), dst)
            elif not os.path.isdir(src):
                os.link(src, dst)
    return dest


class Bundle:
    """A bundle directory: ``config`` (a dict) is written on ``write()``."""

    def __init__(self, path, rootfs, config):
        self.path = path
        self.rootfs = rootfs
        self.config = config

    @property
    def process(self):
        return self.config["process"]

    @property
    def linux(self):
        return self.config["linux"]

    def write(self):
        with open(os.path.join(self.path, "config.json"), "w") as f:
            json.dump(self.config, f, indent=1)

    def set_namespaces(self, *types, **paths):
        """Replace linux.namespaces: each positional type is new, each
        keyword ``type=path`` is joined."""
        self.linux["namespaces"] = [{"type": t} for t in types] + [
            {"type": t, "path": p} for t, p in paths.items()]

    def drop_namespace(self, ns_type):
        self.linux["namespaces"] = [
            n for n in self.linux["namespaces"] if n["type"] != ns_type]

    def add_mount(self, destination, mtype, source, options=None):
        m = {"destination": destination, "type": mtype, "source": source}
        if options is not None:
            m["options"] = list(options)
        self.config["mounts"].append(m)
        return m


# ---------------------------------------------------------------- polling


def wait_until(predicate, timeout=10.0, interval=0.01, what="condition"):
    """Poll ``predicate`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s"
                                 % (timeout, what))
        time.sleep(interval)
        interval = min(interval * 1.5, 0.1)


def pid_alive(pid):
    """True if ``pid`` exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def ns_id(pid, ns):
    """readlink of /proc/PID/ns/NS, e.g. 'mnt:[4026531841]'."""
    return os.readlink("/proc/%s/ns/%s" % (pid, ns))


def children(pid):
    """Direct children (host pids) of ``pid``."""
    out = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out += [int(x) for x in f.read().split()]
    except FileNotFoundError:
        pass
    return out


def mountinfo(pid="self"):
    """Parsed /proc/PID/mountinfo: list of dicts (mountpoint, root,
    options, optional, fstype, source, superopts)."""
    rows = []
    with open("/proc/%s/mountinfo" % pid) as f:
        for line in f:
            left, right = line.rstrip("\n").split(" - ", 1)
            fields = left.split()
            rfields = right.split()
            rows.append({
                "id": fields[0], "parent": fields[1],
                "root": _unescape(fields[3]),
                "mountpoint": _unescape(fields[4]),
                "options": fields[5].split(","),
                "optional": fields[6:],
                "fstype": rfields[0],
                "source": rfields[1] if len(rfields) > 1 else "",
                "superopts": rfields[2].split(",") if len(rfields) > 2 else [],
            })
    return rows


def _unescape(s):
    return (s.replace("\\040", " ").replace("\\011", "\t")
            .replace("\\012", "\n").replace("\\134", "\\"))


def mounts_at(pid, mountpoint):
    return [m for m in mountinfo(pid) if m["mountpoint"] == mountpoint]


# ---------------------------------------------------------------- console


class ConsoleSocket:
    """Listens on an AF_UNIX socket for ``--console-socket`` and receives
    the pty master the runtime sends with SCM_RIGHTS."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(1)
        self.sock.settimeout(COMMAND_TIMEOUT)
        self.master = None
        self.error = None
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        try:
            conn, _ = self.sock.accept()
            with conn:
                fds = array.array("i")
                _msg, ancdata, _flags, _addr = conn.recvmsg(
                    4096, socket.CMSG_SPACE(fds.itemsize))
                for level, ctype, data in ancdata:
                    if level == socket.SOL_SOCKET and ctype == socket.SCM_RIGHTS:
                        fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
                if fds:
                    self.master = fds[0]
                    for extra in fds[1:]:
                        os.close(extra)
        except OSError as e:
            self.error = e

    def wait_master(self, timeout=10):
        self._thread.join(timeout)
        assert self.master is not None, "no pty master received (%r)" % (
            self.error,)
        return self.master

    def read_all(self, timeout=10):
        """Read the pty master until the other side is closed (EIO)."""
        master = self.wait_master()
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
        return data.decode(errors="replace")

    def close(self):
        self.sock.close()
        if self.master is not None:
            os.close(self.master)
            self.master = None
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


# ---------------------------------------------------------------- context


class Context:
    """Everything one test makes, and the proof that teardown removed it.

    ``tmp`` holds the private ``--root``, the bundles and container stdio;
    short socket paths live in ``short`` (AF_UNIX paths max 108 bytes).
    """

    def __init__(self, binary, tmp, rootfs_template):
        self.tmp = str(tmp)
        self.short = tempfile.mkdtemp(prefix="oci-", dir="/tmp")
        os.chmod(self.short, 0o755)
        self.rt = Runtime(binary, os.path.join(self.tmp, "root"))
        self.template = rootfs_template
        self.ids = []
        self.pids = {}  # host pid -> its start time, for the leak check
        self.cgroups = set()
        self.bundles = []
        self._finalizers = []
        self._n = 0

    # -- making things

    def new_id(self):
        cid = "oci-it-" + uuid.uuid4().hex[:12]
        self.ids.append(cid)
        return cid

    def bundle(self, args=("sh",), name=None, readonly=True, parent=None):
        self._n += 1
        path = os.path.join(parent or self.tmp, name or "bundle%d" % self._n)
        os.makedirs(path)
        rootfs = clone_rootfs(self.template, os.path.join(path, "rootfs"))
        cfg = base_config(args)
        cfg["root"]["readonly"] = readonly
        b = Bundle(path, rootfs, cfg)
        self.bundles.append(b)
        return b

    def defer(self, fn, *args):
        """Run ``fn(*args)`` at teardown, after the containers are gone and
        before the leak check (for host-side things a test made)."""
        self._finalizers.append((fn, args))

    def stdio_paths(self, cid):
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in cid)
        base = os.path.join(self.tmp, "stdio-" + safe)
        return base + ".out", base + ".err"

    def output(self, cid):
        """What a created/detached container wrote to stdout."""
        with open(self.stdio_paths(cid)[0], errors="replace") as f:
            return f.read()

    def create(self, bundle, cid=None, *flags, check=True, cwd=None,
               global_args=()):
        """``create``; the container's stdio (and the runtime's) go to
        files in tmp.  Returns (cid, Result)."""
        return self._detached("create", bundle, cid, flags, check, cwd,
                              global_args)

    def run_detached(self, bundle, cid=None, *flags, check=True,
                     detach_flag="--detach"):
        return self._detached("run", bundle, cid, (detach_flag,) + flags,
                              check, None, ())

    def _detached(self, cmd, bundle, cid, flags, check, cwd, global_args):
        if bundle is not None:
            bundle.write()
        cid = self.new_id() if cid is None else cid
        out_path, err_path = self.stdio_paths(cid)
        args = [cmd]
        if bundle is not None:
            args += ["--bundle", bundle.path]
        args += [*flags, cid]
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            res = self.rt(*args, stdout=out, stderr=err, cwd=cwd,
                          global_args=global_args)
        with open(err_path, errors="replace") as f:
            res.err = f.read()
        with open(out_path, errors="replace") as f:
            res.out = f.read()
        if check:
            assert res.rc == 0, res
            self.remember(cid)
        return cid, res

    def run(self, bundle, cid=None, *flags, input=None,
            timeout=COMMAND_TIMEOUT):
        """Foreground ``run``: stdio are pipes, returns (cid, Result)."""
        bundle.write()
        cid = self.new_id() if cid is None else cid
        res = self.rt("run", "--bundle", bundle.path, *flags, cid,
                      input=input, timeout=timeout)
        return cid, res

    def popen_run(self, bundle, cid=None, *flags):
        """Foreground ``run`` left running; returns (cid, Popen)."""
        bundle.write()
        cid = self.new_id() if cid is None else cid
        proc = subprocess.Popen(
            self.rt.argv(["run", "--bundle", bundle.path, *flags, cid]),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        self._finalizers.insert(0, (_reap, (proc,)))
        return cid, proc

    def remember(self, cid):
        """Record the container's pid and cgroups for the leak check."""
        res = self.rt("state", cid)
        if res.rc != 0:
            return
        pid = json.loads(res.out).get("pid") or 0
        if pid > 0 and pid_alive(pid):
            self.pids[pid] = _starttime(pid)
            # a hierarchy the runtime leaves alone (v1 ones, when it sees
            # only cgroup v2) keeps the container where the runtime, and
            # this test, are: those cgroups are not the container's
            self.cgroups.update(cgroup_dirs(pid) - cgroup_dirs(os.getpid()))

    def start(self, cid):
        res = self.rt("start", cid)
        assert res.rc == 0, res
        return res

    def wait_status(self, cid, status, timeout=10):
        return wait_until(lambda: self.rt.status(cid) == status,
                          timeout=timeout, what="%s to be %s" % (cid, status))

    # -- teardown

    def cleanup(self):
        """Force-delete everything; return a list of what was left."""
        for fn, args in self._finalizers:
            try:
                fn(*args)
            except Exception:  # noqa: BLE001 - teardown must go on
                pass
        ids = set(self.ids)
        try:
            ids.update(self.rt.ids())
        except Exception:  # noqa: BLE001 - a broken list must not stop us
            pass
        problems = []
        for cid in sorted(i for i in ids if i):
            try:
                self.rt("delete", "--force", cid)
            except subprocess.TimeoutExpired:
                problems.append("delete --force %s timed out" % cid)
        leaks = self.leftovers()
        self._scrub(leaks)
        shutil.rmtree(self.short, ignore_errors=True)
        return problems + [desc for desc, _ in leaks]

    def leftovers(self):
        """(description, undo) pairs for everything still around."""
        leaks = []
        try:
            left = self.rt.ids()
        except (AssertionError, subprocess.TimeoutExpired) as e:
            left = []
            leaks.append(("list failed: %s" % e, None))
        for cid in left:
            leaks.append(("container %s still listed" % cid, None))
        if os.path.isdir(self.rt.root):
            for name in os.listdir(self.rt.root):
                if name in self.ids:
                    leaks.append(("state %s/%s" % (self.rt.root, name),
                                  ("rmtree", os.path.join(self.rt.root, name))))
        for m in mounts_under(self.tmp) + mounts_under(self.short):
            leaks.append(("mount %s" % m, ("umount", m)))
        for pid in container_processes(self.ids, (self.tmp, self.short),
                                       self.pids):
            leaks.append(("process %d (%s)" % (pid, _cmdline(pid)),
                          ("kill", pid)))
        for d in cgroups_named(self.ids) | {
                d for d in self.cgroups if os.path.isdir(d)}:
            leaks.append(("cgroup %s" % d, ("rmdir", d)))
        return leaks

    def _scrub(self, leaks):
        for _desc, undo in leaks:
            if undo and undo[0] == "kill":
                try:
                    os.kill(undo[1], signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for _desc, undo in sorted((x for x in leaks if x[1]),
                                  key=lambda x: -len(str(x[1][1]))):
            kind, arg = undo
            if kind == "umount":
                subprocess.run(["umount", "-l", arg], capture_output=True)
            elif kind == "rmdir":
                for _ in range(50):
                    try:
                        os.rmdir(arg)
                        break
                    except FileNotFoundError:
                        break
                    except OSError:
                        time.sleep(0.05)
            elif kind == "rmtree":
                shutil.rmtree(arg, ignore_errors=True)


def _reap(proc):
    if proc.poll() is None:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for f in (proc.stdout, proc.stderr):
        if f:
            f.close()


def _starttime(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")[:100]
    except OSError:
        return "?"


def mounts_under(path):
    """Host mount points at or below ``path``."""
    path = os.path.realpath(path)
    return [m["mountpoint"] for m in mountinfo()
            if m["mountpoint"] == path
            or m["mountpoint"].startswith(path + "/")]


def container_processes(ids, dirs, known):
    """Host pids that belong to our containers: a remembered pid still
    alive (same start time), a process whose root is in one of ``dirs``,
    or one in a cgroup named after one of ``ids``."""
    dirs = [os.path.realpath(d) for d in dirs]
    found = set()
    for pid, start in known.items():
        if pid_alive(pid) and _starttime(pid) == start:
            found.add(pid)
    needles = ["/%s\n" % cid for cid in ids if cid] + [
        "/%s/" % cid for cid in ids if cid]
    # A runtime process still working on one of our roots or bundles
    # (e.g. a hung create) names the directory on its command line.
    arg_needles = [d.encode() for d in dirs]
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        pid = int(entry)
        try:
            root = os.readlink("/proc/%d/root" % pid)
            with open("/proc/%d/cgroup" % pid) as f:
                cg = f.read()
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                argv = f.read()
        except OSError:
            continue
        if not pid_alive(pid):
            continue
        if (any(root == d or root.startswith(d + "/") for d in dirs)
                or any(n in cg for n in needles)
                or any(n in argv for n in arg_needles)):
            found.add(pid)
    return sorted(found)


def cgroup_dirs(pid):
    """Host directories of the cgroups ``pid`` is in (v1 and v2),
    excluding the root cgroups."""
    dirs = set()
    with open("/proc/%d/cgroup" % pid) as f:
        lines = f.read().splitlines()
    mounts = [m for m in mountinfo() if m["fstype"] in ("cgroup", "cgroup2")]
    for line in lines:
        _hid, controllers, path = line.split(":", 2)
        if path == "/":
            continue
        for m in mounts:
            if m["fstype"] == "cgroup2":
                if controllers != "":
                    continue
            else:
                names = set(controllers.split(","))
                if not names or not names <= set(m["superopts"]):
                    continue
            rel = os.path.relpath(path, m["root"]) if path.startswith(
                m["root"]) else None
            if rel is None or rel.startswith(".."):
                continue
            dirs.add(os.path.normpath(os.path.join(m["mountpoint"], rel)))
    return dirs


def cgroups_named(ids, top="/sys/fs/cgroup"):
    """Cgroup directories whose name contains one of ``ids``."""
    ids = [cid for cid in ids if cid]
    found = set()
    for dirpath, dirnames, _files in os.walk(top):
        for d in dirnames:
            if any(cid in d for cid in ids):
                found.add(os.path.join(dirpath, d))
    return found
