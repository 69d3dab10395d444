"""exec: run another process inside a running container (runc exec).

The process is described like config.json's ``process`` (the container's
own, with the command line's overrides, or a whole process.json) and is
planned by _plan's ``_process()``, so its fields are validated exactly as
create validates them.  The C child runs in exec mode: it joins every
namespace of the container by fd from /proc/<init>/ns (user, pid and time
through the intermediate process, the others itself), makes no mounts,
devices or hooks, and applies rlimits, user, capabilities, no_new_privs,
seccomp, cwd and env before execve.  The parent puts it in the container's
cgroups before it may go on, with process.execCPUAffinity: the child is
born on ``initial`` (the calling thread's mask, restored after the clone)
and set to ``final`` once in the cgroups.
"""
import errno
import os

from . import _plan, _state
from ._cgroups import Manager
from ._errors import ChildError, ConfigError, InvalidState, SystemError_

# /proc/<pid>/ns name -> (clone flag, joined before the clone?)
NS_ORDER = (("user", _plan.CLONE_NEWUSER, True), ("pid", _plan.CLONE_NEWPID, True),
            ("time", _plan.CLONE_NEWTIME, True), ("net", _plan.CLONE_NEWNET, False),
            ("ipc", _plan.CLONE_NEWIPC, False), ("uts", _plan.CLONE_NEWUTS, False),
            ("mnt", _plan.CLONE_NEWNS, False), ("cgroup", _plan.CLONE_NEWCGROUP, False))


def _native():
    from servin import _native
    return _native


class Options:
    """What the command line adds to (or replaces in) the process."""

    def __init__(self, args=(), process_file=None, tty=None, cwd=None, env=(), user=None,
                 additional_gids=(), caps=(), no_new_privs=False, apparmor=None, process_label=None):
        self.args = list(args)
        self.process_file = process_file
        self.tty = tty
        self.cwd = cwd
        self.env = list(env)
        self.user = user
        self.additional_gids = list(additional_gids)
        self.caps = list(caps)
        self.no_new_privs = no_new_privs
        self.apparmor = apparmor
        self.process_label = process_label


def _load_json(path, what):
    from ._json import load_file
    return load_file(path, what)


def process_spec(cfg, o):
    """The process to exec, as a config.json ``process`` object."""
    if o.process_file:
        proc = _load_json(o.process_file, "--process")
        if not isinstance(proc, dict):
            raise ConfigError(f"--process {o.process_file}: must be a JSON object")
        proc = dict(proc)
        if o.args:
            proc["args"] = o.args
    else:
        base = cfg.get("process")
        proc = dict(base) if isinstance(base, dict) else {}
        if not o.args:
            raise ConfigError("exec: a command is required (or --process)")
        proc["args"] = o.args
        proc["terminal"] = bool(o.tty)
        # the container's console size is the init's, not ours
        proc.pop("consoleSize", None)
    if o.tty and o.process_file:
        proc["terminal"] = True
    if o.cwd:
        proc["cwd"] = o.cwd
    if o.env:
        proc["env"] = _merge_env(list(proc.get("env") or []), o.env)
    user = dict(proc.get("user") or {})
    if o.user is not None:
        uid, _, gid = o.user.partition(":")
        try:
            user["uid"] = int(uid)
            if gid:
                user["gid"] = int(gid)
        except ValueError:
            raise ConfigError(f"--user {o.user!r}: must be uid[:gid] (numbers)") from None
    if o.additional_gids:
        gids = list(user.get("additionalGids") or [])
        for g in o.additional_gids:
            try:
                gids.append(int(g))
            except ValueError:
                raise ConfigError(f"--additional-gids {g!r}: not a number") from None
        user["additionalGids"] = gids
    proc["user"] = user
    if o.caps:
        caps = {k: list(v) for k, v in (proc.get("capabilities") or {}).items()}
        for c in o.caps:
            c = c.upper()
            if not c.startswith("CAP_"):
                c = "CAP_" + c
            for k in ("bounding", "effective", "permitted"):
                caps.setdefault(k, []).append(c)
            # ambient needs inheritable: only when the process has some (runc)
            if caps.get("inheritable"):
                caps.setdefault("ambient", []).append(c)
        proc["capabilities"] = caps
    if o.no_new_privs:
        proc["noNewPrivileges"] = True
    if o.apparmor:
        proc["apparmorProfile"] = o.apparmor
    if o.process_label:
        proc["selinuxLabel"] = o.process_label
    return proc


def _merge_env(env, extra):
    """--env entries after the process's own; a later KEY wins in place."""
    out = []
    where = {}
    for i, e in enumerate(list(env) + list(extra)):
        if "=" not in e:
            raise ConfigError(f"--env {e!r}: must be KEY=VALUE")
        key = e.split("=", 1)[0]
        if key in where:
            out[where[key]] = e
        else:
            where[key] = len(out)
            out.append(e)
    return out


def _rootless_exec(n, pid):
    """A rootless container's user namespace may deny setgroups (its
    gid_map was written without newgidmap); our /proc files must stay
    ours until GO for the oom_score_adj write."""
    n["dumpable_until_go"] = True
    try:
        with open(f"/proc/{pid}/setgroups") as f:
            deny = f.read().strip() == "deny"
    except OSError:
        return
    if deny:
        if n["groups"]:
            raise ConfigError("process.user.additionalGids: the container's user namespace denies setgroups "
                              "(rootless, gidMappings without newgidmap)")
        n["set_groups"] = False


def _namespaces(pid, plan):
    """Open the init's namespaces; skip those that are already ours."""
    pre, join = [], []
    for name, flag, before in NS_ORDER:
        try:
            theirs = os.stat(f"/proc/{pid}/ns/{name}")
        except FileNotFoundError:
            continue        # a kernel without this namespace type
        ours = os.stat(f"/proc/self/ns/{name}")
        if (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino):
            continue
        try:
            fd = os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            raise SystemError_(f"open the container's {name} namespace", errno=e.errno) from None
        plan.open_fds.append(fd)
        (pre if before else join).append((fd, flag))
    return pre, join


def _cgroup_dirs(st, sub):
    """The container's cgroup directories, or a sub-cgroup (runc's
    --cgroup [controller[,controller]:]path) in some or all of them."""
    dirs = dict(st.get("dirs", {}))
    if not sub:
        return dirs
    ctrls, sep, path = sub.rpartition(":")
    if ".." in path.split("/"):
        raise ConfigError(f"--cgroup {sub!r}: '..' is not allowed")
    names = set(ctrls.split(",")) if sep else None
    out = {}
    for name, d in dirs.items():
        parts = set(name.split(","))
        if names is None or parts & names:
            target = os.path.join(d, path.strip("/"))
            if not os.path.isdir(target):
                raise ConfigError(f"--cgroup {sub!r}: {target} does not exist")
            out[name] = target
        else:
            out[name] = d
    if names is not None:
        known = {p for name in dirs for p in name.split(",")} | {"unified", ""}
        for n in names:
            if n not in known:
                raise ConfigError(f"--cgroup {sub!r}: no {n} controller in the container's cgroups")
    return out


class Exec:
    """An exec'd process: .pid, .pty (or -1) for the caller."""

    def __init__(self, pid, pty=-1):
        self.pid = pid
        self.pty = pty


def execute(root, cid, o, *, detach=False, console_socket=None, pid_file=None, preserve_fds=0,
            ignore_paused=False, cgroup=None, log_note=None):
    """Start the process; with detach return at once (0), otherwise wait
    for it and return its exit code (128+signal when killed)."""
    from . import _container
    if pid_file and os.path.isdir(pid_file):
        raise ConfigError(f"--pid-file {pid_file}: is a directory")
    c = _state.Container(root, cid)
    c.lock()
    ex = None
    sync = -1
    p = _plan.Plan()
    try:
        c.load()
        status = c.status()
        if status == _state.PAUSED and not ignore_paused:
            raise InvalidState(f"container {cid}: cannot exec in a paused container (use --ignore-paused)")
        if status not in _state.ALLOWED["exec"] and not (status == _state.PAUSED and ignore_paused):
            raise InvalidState(f"container {cid}: cannot exec in a container that is {status}")
        d = c.data
        cfg = _plan.load_config(d["bundle"])
        proc = process_spec(cfg, o)
        if console_socket and not proc.get("terminal"):
            raise ConfigError("--console-socket given but the process has no terminal")
        if proc.get("terminal") and detach and not console_socket:
            raise ConfigError("cannot allocate a tty for a detached exec without --console-socket")
        _plan._process(p, proc, cid, True, preserve_fds)
        n = p.native
        linux = cfg.get("linux") or {}
        if linux.get("seccomp") is not None:
            _seccomp(p, linux["seccomp"], root)
        for w in p.warnings:
            (log_note or _container.Log.note)(w)
        dirs = _cgroup_dirs(d.get("cgroups", {}), cgroup)
        pid = d["pid"]
        pre, join = _namespaces(pid, p)
        if os.geteuid() != 0:
            _rootless_exec(n, pid)
        n.update(clone_flags=0, pre_join=pre, join=join, unshare_flags=0, new_time=False,
                 need_intermediate=bool(pre), mount_ns=False, userns_new=False, rootfs=b"/",
                 readonly_root=False, no_pivot=False, mounts=[], devices=[], masked=[], readonly=[],
                 sysctl=[], hook_sync=False, create_container_hooks=[], start_container_hooks=[],
                 exec_mode=True)
        if console_socket:
            n["console_fd"] = _container._connect(console_socket, p)
        if not c.alive():
            raise InvalidState(f"container {cid}: cannot exec in a container that is stopped")
        # written by us before GO, as create does: in a user namespace the
        # process is not dumpable and its /proc/self files are the host root's
        oom = n.pop("oom_score_adj", None)
        N = _native()
        if not detach:
            N.set_subreaper()
        initial, final = p.exec_cpus
        # execCPUAffinity.initial: this thread's, inherited by the child
        # from the clone until it is in the container's cgroups
        ours = _set_cpus(0, initial, "initial") if initial else None
        try:
            xpid, sync = N.spawn(n)
        except N.ChildError as e:
            stage, err, msg = e.args
            raise ChildError(stage, err, msg) from None
        finally:
            p.close_fds()
            if ours is not None:
                _restore_cpus(ours)
        ex = Exec(xpid)
        try:
            Manager.from_state({"dirs": dirs}).add(xpid)
        except SystemError_:
            _kill(xpid)
            raise
        if final:
            # without final the kernel decides (runtime-spec 1.2.1)
            _set_cpus(xpid, final, "final")
        if oom is not None:
            _container._write_oom_score_adj(xpid, oom)
        N.send(sync, N.MSG_GO, b"\0\0")
        _wait_started(ex, sync, proc.get("terminal") and not console_socket)
        os.close(sync)
        sync = -1
        if pid_file:
            _container._write_pid_file(pid_file, xpid)
    except BaseException:
        p.close_fds()
        if sync >= 0:
            os.close(sync)
        if ex is not None:
            if ex.pty >= 0:
                os.close(ex.pty)
            _kill(ex.pid)
        c.unlock()
        raise
    c.unlock()
    if detach:
        if ex.pty >= 0:
            os.close(ex.pty)
        return 0
    try:
        return _container._wait_foreground(ex)
    finally:
        if ex.pty >= 0:
            os.close(ex.pty)


def _set_cpus(pid, cpus, key):
    """sched_setaffinity for process.execCPUAffinity.<key> (cpus: (text,
    set)); pid 0 is the calling thread, whose old mask is returned."""
    text, cpus = cpus
    old = os.sched_getaffinity(0) if pid == 0 else None
    try:
        os.sched_setaffinity(pid, cpus)
    except OSError as e:
        if e.errno != errno.EINVAL:
            raise SystemError_(f"set the CPU affinity of process.execCPUAffinity.{key}", errno=e.errno) from None
        where = "the runtime's" if pid == 0 else "the container's"
        raise ConfigError(f"process.execCPUAffinity.{key} {text!r}: none of these CPUs is online and "
                          f"allowed in {where} cpuset") from None
    return old


def _restore_cpus(mask):
    try:
        os.sched_setaffinity(0, mask)
    except OSError:
        pass        # our cpuset changed meanwhile: the kernel's mask stands


def _seccomp(p, sec, root):
    try:
        from ._seccomp import plan as seccomp_plan
    except ImportError:
        raise ConfigError("linux.seccomp: not supported by this build") from None
    prog, flags, listener = seccomp_plan(sec, os.path.join(root, ".seccomp-cache"))
    if listener is not None:
        raise ConfigError("linux.seccomp.listenerPath: exec does not support a seccomp notify listener yet")
    p.native["seccomp_prog"] = prog
    p.native["seccomp_flags"] = flags
    p.native["seccomp_listener"] = False


def _wait_started(ex, sync, want_pty):
    """READY, then EOF when execve closed the sync socket (or ERROR)."""
    N = _native()
    ready = False
    while True:
        typ, err, payload, fd = N.recv(sync)
        if typ == N.MSG_READY:
            ready = True
        elif typ == N.MSG_PTY:
            if want_pty:
                ex.pty = fd
            elif fd >= 0:
                os.close(fd)
        elif typ == N.MSG_ERROR:
            stage, _, msg = payload.partition(b"\0")
            raise ChildError(stage.decode(errors="replace"), err, msg.decode(errors="replace"))
        elif typ == 0:
            if ready:
                return
            raise ChildError("exec", 0, "the process exited before it was started")
        else:
            if fd >= 0:
                os.close(fd)
            raise ChildError("sync", 0, f"unexpected message {typ} from the exec'd process")


def _kill(pid):
    import signal
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
