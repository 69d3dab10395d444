"""What a case works with: the runtime under test, bundles and the checker.

:class:`Runtime` runs ``[binary, *global_args, "--root", ROOT, command, ...]``
with a private state directory.  :class:`Context` gives a case fresh
bundles (busybox rootfs + checker + generated config.json), container ids
that it cleans up afterwards, and ``fail``/``check``/``skip``.
"""
import copy
import json
import os
import shutil
import signal
import subprocess
import time
import uuid

from ._registry import CaseFailed, CaseSkipped

TIMEOUT = 20  # seconds for one runtime invocation


def checker_path():
    env = os.environ.get("SERVIN_CHECKER")
    if env:
        return env
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "servin-checker")


def busybox_path():
    return os.environ.get("SERVIN_BUSYBOX", "/bin/busybox")


class Completed:
    """Outcome of one runtime invocation."""

    def __init__(self, argv, rc, out, err, seconds):
        self.argv, self.rc, self.out, self.err, self.seconds = argv, rc, out, err, seconds

    @property
    def ok(self):
        return self.rc == 0

    def report(self):
        """The checker's ``key=value`` lines as a dict (``mount`` lines are
        collected in a list under ``"mounts"``)."""
        return parse_report(self.out)

    def __repr__(self):
        return f"<{' '.join(self.argv[-3:])} rc={self.rc} err={self.err.strip()[-300:]!r}>"


def parse_report(text):
    rep = {"mounts": []}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        if key == "mount":
            f = value.split("\t")
            f += [""] * (5 - len(f))
            rep["mounts"].append({"point": f[0], "opts": f[1].split(","), "type": f[2],
                                  "super": f[3].split(","), "optional": f[4]})
        else:
            rep[key] = value
    return rep


def _set_oom_score_adj(value):
    """In the forked child, before exec: the runtime starts with ``value``."""
    with open("/proc/self/oom_score_adj", "w") as f:
        f.write(str(value))


class Runtime:
    def __init__(self, argv, root, hide_cgroup2=False, timeout=TIMEOUT):
        self.argv = list(argv)       # binary + global args
        self.root = root
        self.timeout = timeout       # seconds for one invocation
        self.deadline = None         # time.monotonic() by which the run must end
        self.hide_cgroup2 = hide_cgroup2
        os.makedirs(root, exist_ok=True)

    @property
    def name(self):
        return os.path.basename(self.argv[0])

    @property
    def cgroups_disabled(self):
        return any(a in ("--cgroup-manager=disabled",) for a in self.argv) or (
            "--cgroup-manager" in self.argv
            and self.argv[self.argv.index("--cgroup-manager") + 1:][:1] == ["disabled"])

    def command(self, *args):
        argv = self.argv + ["--root", self.root] + list(args)
        if self.hide_cgroup2:
            # A private mount namespace (receiving the host's mounts) in which
            # the hybrid layout's cgroup2 mount is gone: crun refuses hybrid.
            argv = ["unshare", "--mount", "--propagation", "slave", "--", "/bin/sh", "-c",
                    'umount -l /sys/fs/cgroup/unified 2>/dev/null; exec "$@"', "sh"] + argv
        return argv

    def run(self, *args, cwd=None, timeout=None, out_path=None, stdin=subprocess.DEVNULL,
            oom_score_adj=None):
        """Run a runtime command; stdout/stderr go to files (a detached
        container inherits them, so pipes would never reach EOF)."""
        argv = self.command(*args)
        timeout = timeout or self.timeout
        if self.deadline is not None:  # the run's budget bounds every call
            timeout = max(1.0, min(timeout, self.deadline - time.monotonic()))
        tag = uuid.uuid4().hex[:8]
        base = out_path or os.path.join(self.root, f".io-{tag}")
        outp, errp = base + ".out", base + ".err"
        start = time.monotonic()
        preexec = None if oom_score_adj is None else (lambda: _set_oom_score_adj(oom_score_adj))
        with open(outp, "wb") as out, open(errp, "wb") as err:
            proc = subprocess.Popen(argv, stdin=stdin, stdout=out, stderr=err, cwd=cwd,
                                    start_new_session=True, preexec_fn=preexec)
            try:
                rc = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
                rc = "timeout"
        seconds = time.monotonic() - start
        if rc == "timeout":
            raise CaseFailed(f"`{' '.join(args)}` did not finish within {timeout:.0f}s "
                             "(killed)")
        with open(outp, errors="replace") as f:
            o = f.read()
        with open(errp, errors="replace") as f:
            e = f.read()
        if out_path is None:
            for p in (outp, errp):
                try:
                    os.unlink(p)
                except OSError:
                    pass
        return Completed(argv, rc, o, e, seconds)

    def state(self, cid):
        r = self.run("state", cid)
        if r.rc != 0:
            return None
        try:
            return json.loads(r.out)
        except ValueError:
            raise CaseFailed(f"state {cid} printed no JSON: {r.out[:200]!r}")


def base_config(args):
    """A config in the shape of ``runc spec``'s default, without a terminal."""
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": list(args),
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "TERM=xterm"],
            "cwd": "/",
            "capabilities": {k: list(caps) for k in ("bounding", "effective", "permitted")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": False},
        "hostname": "servin-conformance",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
                            "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq",
                              "/proc/sys", "/proc/sysrq-trigger"],
        },
    }


class Bundle:
    """A bundle directory: ``config.json`` and ``rootfs/``.  ``config`` is
    a dict; call :meth:`write` after changing it (``Context.create``/``run``
    do it for you)."""

    def __init__(self, path, config):
        self.path = path
        self.rootfs = os.path.join(path, "rootfs")
        self.config = config

    def write(self):
        with open(os.path.join(self.path, "config.json"), "w") as f:
            json.dump(self.config, f, indent=1)

    @property
    def process(self):
        return self.config["process"]

    @property
    def linux(self):
        return self.config.setdefault("linux", {})

    def add_bind(self, host_dir, dest, options=("rbind", "rw")):
        os.makedirs(os.path.join(self.rootfs, dest.lstrip("/")), exist_ok=True)
        self.config["mounts"].append({"destination": dest, "type": "bind", "source": host_dir,
                                      "options": list(options)})

    def remove_namespace(self, ns_type):
        self.linux["namespaces"] = [n for n in self.linux["namespaces"] if n["type"] != ns_type]

    def set_namespace(self, ns_type, path=None):
        self.remove_namespace(ns_type)
        entry = {"type": ns_type}
        if path:
            entry["path"] = path
        self.linux["namespaces"].append(entry)


def make_rootfs_template(dest):
    """The shared busybox rootfs (copied into every bundle)."""
    bb = busybox_path()
    chk = checker_path()
    for p, what in ((bb, "busybox (apt-get install busybox-static, or SERVIN_BUSYBOX)"),
                    (chk, "servin-checker (install the package, or set SERVIN_CHECKER)")):
        if not os.path.isfile(p):
            raise FileNotFoundError(f"{p}: {what} not found")
    for d in ("bin", "proc", "sys", "dev", "tmp", "etc", "root", "out", "hooks"):
        os.makedirs(os.path.join(dest, d), exist_ok=True)
    os.chmod(os.path.join(dest, "tmp"), 0o1777)
    shutil.copy2(bb, os.path.join(dest, "bin", "busybox"))
    shutil.copy2(chk, os.path.join(dest, "bin", "servin-checker"))
    applets = subprocess.run([bb, "--list"], capture_output=True, text=True, check=True).stdout
    for name in applets.split():
        if name != "busybox":
            os.symlink("busybox", os.path.join(dest, "bin", name))
    with open(os.path.join(dest, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
    with open(os.path.join(dest, "etc", "group"), "w") as f:
        f.write("root:x:0:\nnogroup:x:65534:\n")


class Context:
    """Given to each case.  ``t.rt`` is the runtime; containers made with
    :meth:`new_id` are deleted (``delete --force``) when the case ends."""

    def __init__(self, rt, workdir, template, case_id):
        self.rt = rt
        self.workdir = workdir
        self.template = template
        self.case_id = case_id
        self.ids = []
        self.cleanups = []
        self._n = 0

    # -- outcomes --------------------------------------------------------
    def fail(self, msg):
        raise CaseFailed(msg)

    def check(self, cond, msg):
        if not cond:
            raise CaseFailed(msg)

    def skip(self, reason):
        raise CaseSkipped(reason)

    def skip_if(self, reason):
        if reason:
            raise CaseSkipped(reason)

    def need_cgroups(self):
        if self.rt.cgroups_disabled:
            self.skip("the runtime was invoked with --cgroup-manager=disabled")

    # -- resources -------------------------------------------------------
    def new_id(self):
        self._n += 1
        short = self.case_id.replace(".", "-")[:40]
        cid = f"sc-{short}-{uuid.uuid4().hex[:6]}{self._n}"
        self.ids.append(cid)
        return cid

    def tmpdir(self, name):
        p = os.path.join(self.workdir, name)
        os.makedirs(p, exist_ok=True)
        return p

    def bundle(self, *args, name=None):
        """A fresh bundle whose process runs ``servin-checker *args`` (or
        ``args`` as given when the first starts with ``/``)."""
        self._n += 1
        path = os.path.join(self.workdir, name or f"bundle{self._n}")
        shutil.copytree(self.template, os.path.join(path, "rootfs"), symlinks=True)
        argv = list(args) if args and args[0].startswith("/") else ["/bin/servin-checker", *args]
        b = Bundle(path, base_config(argv or ["/bin/servin-checker", "all"]))
        return b

    def on_cleanup(self, func):
        self.cleanups.append(func)

    # -- operations ------------------------------------------------------
    def run(self, bundle, cid=None, timeout=None):
        """``runtime run`` in the foreground; returns :class:`Completed`
        whose ``out`` is the container's stdout."""
        bundle.write()
        cid = cid or self.new_id()
        return self.rt.run("run", "--bundle", bundle.path, cid, timeout=timeout,
                           out_path=os.path.join(bundle.path, f"run-{cid}"))

    def run_ok(self, bundle, what="run"):
        r = self.run(bundle)
        if r.rc != 0:
            self.fail(f"{what}: exit {r.rc}: {r.err.strip()[-400:] or r.out.strip()[-400:]}")
        return r.report()

    def create(self, bundle, cid=None, expect_ok=True):
        bundle.write()
        cid = cid or self.new_id()
        r = self.rt.run("create", "--bundle", bundle.path, cid,
                        out_path=os.path.join(bundle.path, f"create-{cid}"))
        if expect_ok and r.rc != 0:
            self.fail(f"create failed: exit {r.rc}: {r.err.strip()[-400:]}")
        return cid, r

    def container_output(self, bundle, cid):
        with open(os.path.join(bundle.path, f"create-{cid}.out"), errors="replace") as f:
            return f.read()

    def op(self, *args):
        return self.rt.run(*args)

    def state(self, cid):
        return self.rt.state(cid)

    def wait_status(self, cid, want, timeout=10.0):
        deadline = time.monotonic() + timeout
        st = None
        while time.monotonic() < deadline:
            st = self.state(cid)
            if st and st.get("status") == want:
                return st
            time.sleep(0.05)
        self.fail(f"container {cid} did not reach status {want!r} within {timeout}s "
                  f"(last state: {st})")

    def cleanup(self):
        errors = []
        for func in reversed(self.cleanups):
            try:
                func()
            except Exception as e:  # cleanup must go on
                errors.append(f"cleanup: {e}")
        for cid in self.ids:
            try:
                if self.rt.state(cid) is not None:
                    r = self.rt.run("delete", "--force", cid)
                    if r.rc != 0 and self.rt.state(cid) is not None:
                        # A created container's init may be blocked; kill and retry.
                        self.rt.run("kill", cid, "KILL")
                        time.sleep(0.2)
                        self.rt.run("delete", "--force", cid)
            except CaseFailed as e:
                errors.append(f"cleanup of {cid}: {e}")
        return errors


def deep(d):
    return copy.deepcopy(d)
