"""The lifecycle operations of runtime-spec runtime.md: create, start,
state, kill, delete, plus run (create + start + wait + delete) and list.

The parent side lives here: cgroups, id maps, hooks in the runtime
namespace, the state file, the pid file, the console hand-off and the exit
code.  Everything between clone and execve is servin._native's.
"""
import os
import stat
import time

try:
    import _signal as signal   # the C module: signal.py imports enum (~1 ms)
except ImportError:            # pragma: no cover
    import signal

from . import _hooks, _json, _plan, _state
from ._cgroups import Manager, manager_for
from ._errors import ChildError, ConfigError, HookError, InvalidState, ServinError, SystemError_

OCI_VERSION = "1.2.0"


def _native():
    from servin import _native
    return _native


def _now():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%09dZ" % int((t % 1) * 1e9)


class Log:
    """Where warnings go (the CLI sets this up from --log)."""
    warn = staticmethod(lambda msg: None)   # hook failures and the like: stderr + log
    note = staticmethod(lambda msg: None)   # config fields not applied: log (stderr with --debug)


def hook_state(cid, status, pid, bundle, annotations):
    st = {"ociVersion": OCI_VERSION, "id": cid, "status": status, "pid": pid, "bundle": bundle}
    if annotations:
        st["annotations"] = annotations
    return st


class Spawned:
    """A container whose init is waiting to be started."""

    def __init__(self, container, pid, sync_fd, plan, cgroups):
        self.container = container
        self.pid = pid
        self.sync_fd = sync_fd
        self.plan = plan
        self.cgroups = cgroups
        self.pty = -1

    def close(self):
        if self.sync_fd >= 0:
            os.close(self.sync_fd)
            self.sync_fd = -1


def create(root, cid, bundle, *, console_socket=None, pid_file=None, no_pivot=False,
           no_new_keyring=False, preserve_fds=0, detach=True, use_fifo=True):
    """Create a container; returns a Spawned whose init waits for start.
    With use_fifo=False (run) the init waits for a message on the sync
    socket instead of the exec fifo."""
    _state.validate_id(cid)
    bundle = os.path.abspath(bundle or ".")
    if not os.path.isdir(bundle):
        raise ConfigError(f"bundle {bundle}: not a directory")
    cfg = _plan.load_config(bundle)
    plan = _plan.build(cfg, bundle, cid, no_pivot=no_pivot, no_new_keyring=no_new_keyring,
                       preserve_fds=preserve_fds, seccomp_cache=os.path.join(root, ".seccomp-cache"))
    for w in plan.warnings:
        Log.note(w)
    if plan.terminal and detach and not console_socket:
        plan.close_fds()
        raise ConfigError("process.terminal is true: --console-socket is required for a detached container")
    if console_socket and not plan.terminal:
        plan.close_fds()
        raise ConfigError("--console-socket given but process.terminal is false")
    if pid_file and os.path.isdir(pid_file):
        plan.close_fds()
        raise ConfigError(f"--pid-file {pid_file}: is a directory")

    try:
        container = _state.Container.make(root, cid)
    except BaseException:
        plan.close_fds()
        raise
    pid = -1
    sync = -1
    cg = None
    moved = None
    try:
        cg = manager_for(plan.cgroups_path, cid)
        cg.create()
        if plan.resources and cg.why:
            Log.warn(f"linux.resources not applied: {cg.why}")   # runc's rootless behaviour
        else:
            cg.apply(plan.resources)
        _plan.finish_mounts(plan, cg.dirs)
        n = plan.native
        if use_fifo:
            os.mkfifo(container.fifo_path, 0o600)
            fd = os.open(container.fifo_path, os.O_RDWR | os.O_CLOEXEC)
            plan.open_fds.append(fd)
            n["fifo_fd"] = fd
        if console_socket:
            n["console_fd"] = _connect(console_socket, plan)
        # written by us, not the init: in a user namespace the init stops
        # being dumpable once it is root there, and its /proc/self files
        # then belong to the host's root
        oom = n.pop("oom_score_adj", None)
        try:
            pid, sync = _native().spawn(n)
        except _native().ChildError as e:
            stage, err, msg = e.args
            raise ChildError(stage, err, msg) from None
        finally:
            plan.close_fds()
        start_time, _ = _state.proc_start_time(pid)
        data = {
            "ociVersion": cfg.get("ociVersion", OCI_VERSION),
            "id": cid,
            "pid": pid,
            "init_start": start_time,
            "bundle": bundle,
            "rootfs": plan.rootfs,
            "created": _now(),
            "owner": "",
            "annotations": plan.annotations,
            "creating": True,
            "cgroups": cg.to_state(),
            "freezer": cg.freezer_state_file(),
            "hooks": {k: plan.hooks[k] for k in ("poststart", "poststop") if k in plan.hooks},
            "namespaces": dict(plan.namespaces),
            "net_devices": plan.net_devices,
            # linux.resources.memory.checkBeforeUpdate: read by update
            "memory_check_before_update": bool((plan.resources.get("memory") or {}).get("checkBeforeUpdate")),
        }
        container.save(data)
        if plan.uid_map is not None:
            _write_id_maps(pid, plan)       # before GO: the init becomes root in its user ns
        states = hook_state(cid, _state.CREATING, pid, bundle, plan.annotations)
        sc = dict(states, status=_state.CREATED)
        payload = _json.dumps(states).encode() + b"\0" + _json.dumps(sc).encode() + b"\0"
        if oom is not None:
            _write_oom_score_adj(pid, oom)  # before GO: a rootless parent can't once it's undumpable
        N = _native()
        N.send(sync, N.MSG_GO, payload)
        # the init mounts its rootfs meanwhile, and waits for SETUP_DONE
        # before its cgroup namespace, hooks and exec
        cg.add(pid)
        if plan.net_devices:
            from ._netdev import move_in, pin
            pin(pid, os.path.join(container.dir, "netns"))
            moved = plan.net_devices
            move_in(plan.net_devices, pid)
        N.send(sync, N.MSG_SETUP_DONE)
        spawned = Spawned(container, pid, sync, plan, cg)
        _wait_ready(spawned, states)
        data["creating"] = False
        container.save(data)
        if pid_file:
            _write_pid_file(pid_file, pid)
    except BaseException as e:
        if moved:
            # the user's interfaces must not die with the namespace
            _release_net_devices(moved, container.dir)
        _abort(container, pid, sync, cg)
        if isinstance(e, (HookError, ChildError)) and pid > 0:
            # runtime.md lifecycle: a failing create hook continues at
            # delete, whose poststop hooks run (as warnings)
            _hooks.run("poststop", plan.hooks.get("poststop"),
                       hook_state(cid, _state.STOPPED, pid, bundle, plan.annotations), warn=Log.warn)
        raise
    return spawned


def _release_net_devices(devs, cdir):
    """Move netDevices back to the host from the namespace pinned in the
    container's dir, then unpin it (delete, and a failed create)."""
    pinned = os.path.join(cdir, "netns")
    if not os.path.exists(pinned):
        return
    from ._netdev import move_out, unpin
    for err in move_out(devs, pinned):
        Log.warn(err)
    unpin(pinned)


def _connect(path, plan):
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError as e:
        s.close()
        raise ConfigError(f"--console-socket {path}: {e.strerror}") from None
    fd = s.detach()
    plan.open_fds.append(fd)
    return fd


def _write_id_maps(pid, plan):
    # rootless: newuidmap/newgidmap or setgroups=deny (see _rootless)
    from ._rootless import write_id_maps
    write_id_maps(pid, plan.uid_map, plan.gid_map, plan.uid_helper, plan.gid_helper, plan.setgroups_deny)


def _write_oom_score_adj(pid, value):
    try:
        with open(f"/proc/{pid}/oom_score_adj", "wb") as f:
            f.write(value)
    except OSError as e:
        why = ("; lowering it needs CAP_SYS_RESOURCE, which a rootless runtime lacks"
               if os.geteuid() != 0 and e.errno in (1, 13) else "")
        raise SystemError_(f"process.oomScoreAdj: write {value.decode()} to /proc/{pid}/oom_score_adj{why}",
                           errno=e.errno) from None


def _wait_ready(sp, states):
    N = _native()
    while True:
        typ, err, payload, fd = N.recv(sp.sync_fd)
        if typ == N.MSG_READY:
            return
        if typ == N.MSG_HOOKS:
            _hooks.run("prestart", sp.plan.hooks.get("prestart"), states)
            _hooks.run("createRuntime", sp.plan.hooks.get("createRuntime"), states)
            N.send(sp.sync_fd, N.MSG_HOOKS_DONE)
        elif typ == N.MSG_PTY:
            sp.pty = fd
        elif typ == N.MSG_SECCOMP:
            from ._seccomp import send_listener
            try:
                send_listener(sp.plan.seccomp_listener, fd, states, sp.pid)
            finally:
                os.close(fd)
            N.send(sp.sync_fd, N.MSG_SECCOMP_DONE)
        elif typ == N.MSG_ERROR:
            raise _child_error(err, payload)
        elif typ == 0:
            raise ChildError("init", 0, "the container's init exited before it was ready")
        else:
            if fd >= 0:
                os.close(fd)
            raise ChildError("sync", 0, f"unexpected message {typ} from the container's init")


def _child_error(err, payload):
    stage, _, msg = payload.partition(b"\0")
    return ChildError(stage.decode(errors="replace"), err, msg.decode(errors="replace"))


def _write_pid_file(path, pid):
    path = os.path.abspath(path)
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.rename(tmp, path)


def _abort(container, pid, sync, cg):
    """Undo a failed create: nothing may be left behind."""
    if sync >= 0:
        os.close(sync)
    if pid > 0:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _reap_or_wait(pid)
    if cg is not None:
        try:
            _kill_cgroup(cg)
            cg.destroy()
        except ServinError:
            pass
    _remove_dir(container.dir)
    container.unlock()


def _reap_or_wait(pid, timeout=5.0):
    try:
        os.waitpid(pid, 0)
        return
    except ChildProcessError:
        pass
    _wait_gone(pid, timeout)


def _wait_gone(pid, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st, state = _state.proc_start_time(pid)
        if st is None or state in ("Z", "X"):
            return True
        time.sleep(0.002)
    return False


def _remove_dir(d):
    try:
        for name in os.listdir(d):
            os.unlink(os.path.join(d, name))
        os.rmdir(d)
    except FileNotFoundError:
        pass


# -- start ------------------------------------------------------------

def start(root, cid):
    c = _state.Container(root, cid)
    with c:
        c.load()
        _state.check("start", c.status(), cid)
        try:
            _release_fifo(c)
        except ChildError:
            # a startContainer hook (or exec) failed: the container is
            # stopped and deleted (runtime-spec lifecycle step 7 -> 12)
            _wait_gone(c.data["pid"])
            destroy(c)
            raise
        d = c.data
        _hooks.run("poststart", d.get("hooks", {}).get("poststart"),
                   hook_state(cid, _state.RUNNING, d["pid"], d["bundle"], d.get("annotations")),
                   warn=Log.warn)


def _release_fifo(c):
    """Write the start byte; wait until the init has exec'd (its copy of
    the fifo closes) or reports that startContainer hooks or exec failed."""
    import select
    try:
        wfd = os.open(c.fifo_path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise InvalidState(f"container {c.id}: the init is gone ({e.strerror})") from None
    rfd = os.open(c.fifo_path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        os.write(wfd, b"\0")
        os.close(wfd)
        wfd = -1
        os.unlink(c.fifo_path)
        p = select.poll()
        p.register(rfd, select.POLLIN | select.POLLHUP)
        while True:
            ev = p.poll(1000)
            if ev and ev[0][1] & select.POLLHUP:
                break
            if not c.alive():
                break
            time.sleep(0.0005)
        try:
            msg = os.read(rfd, 4096)
        except BlockingIOError:
            msg = b""
        if msg:
            raise ChildError("start", 0, msg.decode(errors="replace").lstrip("E").strip())
    finally:
        if wfd >= 0:
            os.close(wfd)
        os.close(rfd)


# -- state, list ------------------------------------------------------

def state(root, cid):
    c = _state.Container(root, cid)
    c.load()
    return full_state(c)


def full_state(c):
    d = c.data or {}
    st = c.oci_state()
    st.setdefault("pid", 0)
    st["rootfs"] = d.get("rootfs", "")
    st["created"] = d.get("created", "")
    st["owner"] = d.get("owner", "")
    return st


def list_states(root):
    out = []
    for cid in _state.list_ids(root):
        c = _state.Container(root, cid)
        try:
            c.load()
        except ServinError:
            continue
        out.append(full_state(c))
    return out


# -- kill -------------------------------------------------------------

SIGNALS = {name[3:]: int(getattr(signal, name)) for name in dir(signal)
           if name.startswith("SIG") and not name.startswith("SIG_") and name.isupper()
           and name not in ("SIGRTMIN", "SIGRTMAX")}


def parse_signal(s):
    s = (s or "TERM").strip()
    if s.isdigit():
        n = int(s)
        if not 0 < n < 65:
            raise ConfigError(f"invalid signal {s!r}")
        return n
    name = s.upper()
    if name.startswith("SIG"):
        name = name[3:]
    if name.startswith("RTMIN") or name.startswith("RTMAX"):
        base = signal.SIGRTMIN if name.startswith("RTMIN") else signal.SIGRTMAX
        off = name[5:]
        try:
            return int(base) + (int(off) if off else 0)
        except ValueError:
            pass
    if name not in SIGNALS:
        raise ConfigError(f"unknown signal {s!r}")
    return SIGNALS[name]


def kill(root, cid, sig, all_=False):
    c = _state.Container(root, cid)
    with c:
        c.load()
        status = c.status()
        if status not in _state.ALLOWED["kill"]:
            raise InvalidState(f"container {cid} is not running (status {status})")
        cg = Manager.from_state(c.data.get("cgroups", {})) if all_ else None
        if cg and cg.dirs:      # without cgroups (rootless), --all signals the init
            for pid in cg.pids():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            return
        _signal_init(c, sig)


def _signal_init(c, sig):
    """Signal the init through a pidfd checked against the stored start
    time, so a recycled pid is never hit."""
    pid = c.data["pid"]
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        raise InvalidState(f"container {c.id} is not running") from None
    try:
        if not c.alive():
            raise InvalidState(f"container {c.id} is not running")
        signal.pidfd_send_signal(pidfd, sig)
    finally:
        os.close(pidfd)


# -- delete -----------------------------------------------------------

def delete(root, cid, force=False):
    c = _state.Container(root, cid)
    try:
        c.lock()
    except ServinError:
        if force:
            return          # runc: delete --force of a missing container succeeds
        raise
    try:
        c.load()
        status = c.status()
        if status not in _state.ALLOWED["delete"]:
            if not force:
                _state.check("delete", status, cid)
        destroy(c)
    finally:
        c.unlock()


def destroy(c):
    d = c.data or {}
    cg = Manager.from_state(d.get("cgroups", {}))
    if d.get("net_devices"):
        _release_net_devices(d["net_devices"], c.dir)
    if c.alive():
        _thaw(cg)           # a frozen init cannot die
        try:
            _signal_init(c, signal.SIGKILL)
        except InvalidState:
            pass
        _wait_gone(d["pid"])
    _kill_cgroup(cg)
    try:
        cg.destroy()
    except ServinError as e:
        Log.warn(str(e))
    if d:
        _hooks.run("poststop", d.get("hooks", {}).get("poststop"),
                   hook_state(c.id, _state.STOPPED, d.get("pid", 0), d.get("bundle", ""), d.get("annotations")),
                   warn=Log.warn)
    _remove_dir(c.dir)


def _thaw(cg):
    frz = cg.freezer_state_file()
    if frz and os.path.exists(frz):
        try:
            with open(frz, "w") as f:
                f.write("THAWED" if frz.endswith("freezer.state") else "0")
        except OSError:
            pass


def _kill_cgroup(cg, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        pids = cg.pids()
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _thaw(cg)           # a frozen cgroup cannot die
        if time.monotonic() > deadline:
            return
        time.sleep(0.002)


# -- run --------------------------------------------------------------

FORWARD = (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGUSR1,
           signal.SIGUSR2, signal.SIGWINCH, signal.SIGCONT, signal.SIGALRM)


def run(root, cid, bundle, *, detach=False, keep=False, **create_opts):
    if not detach:
        _native().set_subreaper()
    sp = create(root, cid, bundle, detach=detach, use_fifo=False, **create_opts)
    c = sp.container
    try:
        N = _native()
        N.send(sp.sync_fd, N.MSG_START)
        typ, err, payload, fd = N.recv(sp.sync_fd)
        sp.close()
        if typ == N.MSG_ERROR:
            exc = _child_error(err, payload)
            if not keep:
                _reap_or_wait(sp.pid)
                destroy(c)
            raise exc
        d = c.data
        _hooks.run("poststart", d.get("hooks", {}).get("poststart"),
                   hook_state(cid, _state.RUNNING, sp.pid, d["bundle"], d.get("annotations")), warn=Log.warn)
        if detach:
            return 0
        c.unlock()
        code = _wait_foreground(sp)
        c.lock()
        c.load()
        if not keep:
            destroy(c)
        return code
    finally:
        sp.close()
        if sp.pty >= 0:
            os.close(sp.pty)
        c.unlock()


def _wait_foreground(sp):
    pid = sp.pid
    old = {}

    def forward(signum, frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass
        if signum == signal.SIGWINCH and sp.pty >= 0:
            _copy_winsize(sp.pty)

    for s in FORWARD:
        try:
            old[s] = signal.signal(s, forward)
        except (OSError, ValueError):
            pass
    try:
        if sp.pty >= 0:
            return _proxy_pty(sp)
        return _reap_until(pid)
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _reap_until(pid):
    """Reap children (we are a subreaper) until the init exits."""
    while True:
        try:
            wpid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 255
        if wpid == pid:
            return _exit_code(status)


def _exit_code(status):
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _copy_winsize(pty):
    import fcntl
    import termios
    try:
        ws = fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(pty, termios.TIOCSWINSZ, ws)
    except OSError:
        pass


def _proxy_pty(sp):
    """Foreground run with a terminal: copy between our stdio and the pty."""
    import select
    import termios
    import tty
    pty = sp.pty
    saved = None
    if os.isatty(0):
        saved = termios.tcgetattr(0)
        tty.setraw(0)
        _copy_winsize(pty)
    pidfd = os.pidfd_open(sp.pid)
    fds = [pty, pidfd]
    stdin_open = True
    if stdin_open:
        fds.append(0)
    try:
        while True:
            try:
                r, _, _ = select.select(fds, [], [])
            except InterruptedError:
                continue
            if 0 in r:
                data = os.read(0, 65536)
                if not data:
                    fds.remove(0)
                else:
                    os.write(pty, data)
            if pty in r:
                try:
                    data = os.read(pty, 65536)
                except OSError:
                    data = b""
                if not data:
                    fds.remove(pty)
                else:
                    os.write(1, data)
            if pidfd in r:
                # drain what is left on the pty
                while True:
                    try:
                        rr, _, _ = select.select([pty], [], [], 0)
                        if not rr:
                            break
                        data = os.read(pty, 65536)
                        if not data:
                            break
                        os.write(1, data)
                    except OSError:
                        break
                return _reap_until(sp.pid)
    finally:
        os.close(pidfd)
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)


def is_fifo(path):
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False
